//! The watcher watched: the add-on pings a URL outside (Healthchecks, Uptime Kuma) while it
//! runs, in the failure form with the reason while a monitor has a problem.

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{eventually, spawn_app_with};

async fn fake_service() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path_regex(".*"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .mount(&server)
        .await;
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

#[tokio::test]
async fn healthchecks_hears_all_is_well_then_the_failure_with_its_reason() {
    let healthchecks = fake_service().await;
    let uuid = "5e3c1f7a-9d2b-4c8e-a1f0-77aa00c0ffee";
    let url = format!("{}/ping/{uuid}", healthchecks.uri());
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(dir.path(), None, &[("KOPIA_WEBHOOK_HEARTBEAT_URL", &url)]).await;
    eventually(10, "the first ping", || async {
        received(&healthchecks)
            .await
            .iter()
            .any(|r| r.method.as_str() == "POST" && r.url.path() == format!("/ping/{uuid}"))
    })
    .await;
    let first = received(&healthchecks).await.remove(0);
    assert_eq!(String::from_utf8_lossy(&first.body), "0 monitors, all fine");

    let monitor = app.create_monitor(json!({"name": "NAS"})).await;
    app.post_webhook(
        &monitor,
        r#"{"status":"failed","source":"/home","error":"disk full"}"#,
    )
    .await;
    eventually(15, "the failure ping", || async {
        received(&healthchecks)
            .await
            .iter()
            .any(|r| r.url.path() == format!("/ping/{uuid}/fail"))
    })
    .await;
    let fail = received(&healthchecks)
        .await
        .into_iter()
        .find(|r| r.url.path().ends_with("/fail"))
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&fail.body),
        "NAS: failed (/home: disk full)"
    );
    let status: Value = app.get_json("/api/status").await;
    let heartbeat = &status["heartbeat"];
    assert_eq!(heartbeat["kind"], "healthchecks");
    assert_eq!(heartbeat["every_minutes"], 5);
    assert_eq!(heartbeat["last"]["said"], "problem");
    assert!(heartbeat["last"]["error"].is_null());
    let masked = heartbeat["url"].as_str().unwrap();
    assert!(
        !masked.contains(uuid) && masked.ends_with("…ffee"),
        "{masked}"
    );
    let page = app.get_ui("/").await.text().await.unwrap();
    assert!(
        page.contains("Heartbeat to Healthchecks"),
        "the panel says so"
    );
    assert!(!page.contains(uuid), "the panel never shows the whole URL");

    // Fixed: all is well again, told at once.
    app.post_webhook(&monitor, r#"{"status":"success","source":"/home"}"#)
        .await;
    eventually(15, "all fine again", || async {
        received(&healthchecks)
            .await
            .last()
            .is_some_and(|r| String::from_utf8_lossy(&r.body) == "1 monitors, all fine")
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn uptime_kuma_hears_down_with_the_message_and_a_refusal_is_shown() {
    let kuma = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/push/"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"ok": false, "msg": "Monitor not found or not active."})),
        )
        .mount(&kuma)
        .await;
    let url = format!("{}/api/push/Xy12AbCdEf?status=up&msg=OK&ping=", kuma.uri());
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(dir.path(), None, &[("KOPIA_WEBHOOK_HEARTBEAT_URL", &url)]).await;
    let monitor = app
        .create_monitor(json!({"name": "Cloud", "schedule": "1s", "grace": "1s"}))
        .await;
    let _ = monitor;
    eventually(20, "a down push with the reason", || async {
        received(&kuma).await.iter().any(|r| {
            let query: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
            query.contains(&("status".into(), "down".into()))
                && query
                    .iter()
                    .any(|(k, v)| k == "msg" && v.starts_with("Cloud: overdue"))
        })
    })
    .await;
    let status: Value = app.get_json("/api/status").await;
    assert_eq!(status["heartbeat"]["kind"], "uptime_kuma");
    assert_eq!(
        status["heartbeat"]["last"]["error"],
        "it answered 404 Not Found"
    );
    app.stop().await;
}

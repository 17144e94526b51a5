use serde_json::{Value, json};

use crate::helpers::{fake_core, spawn_app, spawn_app_with, wait_for_state};

#[tokio::test]
async fn creating_a_monitor_answers_201_with_its_url_and_entities() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;

    let monitor = app
        .create_monitor(json!({"name": "Server One", "history_limit": 20}))
        .await;

    assert_eq!(monitor["key"], "server_one");
    assert_eq!(monitor["name"], "Server One");
    assert_eq!(monitor["history_limit"], 20);
    let id = monitor["webhook_id"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(
        monitor["webhook_url"],
        format!("{}/api/webhook/{id}", app.webhook_base)
    );
    assert_eq!(
        monitor["entities"],
        json!([
            "sensor.kopia_server_one",
            "sensor.kopia_server_one_last_success",
            "sensor.kopia_server_one_size",
            "sensor.kopia_server_one_duration",
            "binary_sensor.kopia_server_one_problem"
        ])
    );
    assert_eq!(monitor["status"], "unknown");

    let again = app.create_monitor(json!({"name": "Server Two"})).await;
    assert_eq!(again["key"], "server_two");
    let listed: Vec<Value> = app.get_json("/api/monitors").await;
    assert_eq!(listed.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn invalid_monitors_get_a_400_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "history_limit": 3}), "history_limit"),
        (json!({"name": "x", "webhook_id": "short"}), "16"),
        (json!({"name": "x", "secret": "abc"}), "8 characters"),
        (json!({"nome": "x"}), "name"),
        (
            json!({"name": "x", "schedule": {"every": "soon"}}),
            "schedule.every",
        ),
        (
            json!({"name": "x", "schedule": {"cron": "0 3 * *"}}),
            "five fields",
        ),
        (json!({"name": "x", "grace": "a while"}), "grace"),
    ];
    for (body, reason) in cases {
        let response = app
            .client
            .post(format!("{}/api/monitors", app.ui_base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(reason),
            "{body} -> {error}"
        );
    }
    let taken = app
        .create_monitor(json!({"name": "a", "webhook_id": "my-own-webhook-id-42"}))
        .await;
    let clash = app
        .client
        .post(format!("{}/api/monitors", app.ui_base))
        .json(&json!({"name": "b", "webhook_id": taken["webhook_id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(clash.status().as_u16(), 409);
    app.stop().await;
}

#[tokio::test]
async fn unknown_monitors_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    for path in [
        "/api/monitors/nope",
        "/api/monitors/nope/events",
        "/api/monitors/..%2F..%2Fetc",
    ] {
        assert_eq!(app.get_ui(path).await.status().as_u16(), 404, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn events_page_newest_first_with_limit_and_before() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Pages"})).await;
    app.post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;

    let first = app.events("pages", "?limit=3").await;
    let last_id = first[2]["id"].as_i64().unwrap();
    let rest = app
        .events("pages", &format!("?limit=3&before={last_id}"))
        .await;

    assert_eq!(first.len(), 3);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["source"], "/some/other/path");
    assert!(first[0]["id"].as_i64() > first[1]["id"].as_i64());
    let bad = app.get_ui("/api/monitors/pages/events?limit=0").await;
    assert_eq!(bad.status().as_u16(), 400);
    app.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_history_and_pushes_every_monitor_again() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let first = spawn_app(dir.path(), Some(&core)).await;
    let monitor = first.create_monitor(json!({"name": "Keeper"})).await;
    first
        .post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;
    wait_for_state(&core, "sensor.kopia_keeper", |s| s["state"] == "failed").await;
    first.stop().await;
    core.reset().await;
    let core = {
        // The same fake Core, forgetting everything, as Core does when it restarts.
        crate::helpers::mount_accept_all(&core).await;
        core
    };

    let second = spawn_app(dir.path(), Some(&core)).await;

    assert_eq!(second.events("keeper", "").await.len(), 4);
    let (_, state) = wait_for_state(&core, "sensor.kopia_keeper", |s| s["state"] == "failed").await;
    assert_eq!(state["attributes"]["history"].as_array().unwrap().len(), 4);
    // The same URL still works after the restart.
    let url = monitor["webhook_id"].as_str().unwrap();
    let response = second
        .client
        .post(format!("{}/api/webhook/{url}", second.webhook_base))
        .body(r#"{"status":"success","source":"/some/other/path"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    wait_for_state(&core, "sensor.kopia_keeper", |s| s["state"] == "success").await;
    second.stop().await;
}

#[tokio::test]
async fn the_status_endpoint_counts_monitors_by_status() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let failing = app.create_monitor(json!({"name": "Failing"})).await;
    app.create_monitor(json!({"name": "Quiet"})).await;
    app.post_webhook(&failing, r#"{"status":"failed","error":"disk full"}"#)
        .await;

    let status: Value = app.get_json("/api/status").await;

    assert_eq!(status["monitors"], 2);
    assert_eq!(status["by_status"], json!({"failed": 1, "unknown": 1}));
    assert_eq!(status["home_assistant"]["enabled"], false);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    app.stop().await;
}

#[tokio::test]
async fn a_local_run_on_every_interface_shows_the_lan_address_in_webhook_urls() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(dir.path(), None, &[("KOPIA_WEBHOOK_LISTEN", "0.0.0.0:0")]).await;
    let monitor = app.create_monitor(json!({"name": "Desk"})).await;
    let url = monitor["webhook_url"].as_str().unwrap();
    // The machine's LAN address, as the kernel would pick it for the default route.
    let lan = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    match lan {
        Some(ip) => assert!(url.starts_with(&format!("http://{ip}:")), "{url}"),
        None => assert!(url.starts_with("http://127.0.0.1:"), "no LAN here: {url}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn a_second_monitor_with_the_same_name_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "NAS"})).await;
    let again = app
        .client
        .post(format!("{}/api/monitors", app.ui_base))
        .json(&json!({"name": "nas"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let body: serde_json::Value = again.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("already a monitor called \"NAS\""),
        "{body}"
    );
    let kopia = app.create_monitor(json!({"name": "Kopia Laptop"})).await;
    assert_eq!(kopia["entities"][0], "sensor.kopia_laptop");
    app.stop().await;
}

/// One shape for a new monitor and an edit: a name is what a new one needs; the webhook ID
/// is not edited (a new URL is); `null` removes a secret.
#[tokio::test]
async fn creating_and_editing_take_the_same_fields() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let nameless = app
        .client
        .post(format!("{}/api/monitors", app.ui_base))
        .json(&json!({"history_limit": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(nameless.status().as_u16(), 400);
    let said: Value = nameless.json().await.unwrap();
    assert!(
        said["error"].as_str().unwrap().contains("needs a name"),
        "{said}"
    );

    app.create_monitor(json!({"name": "Edited", "secret": "a-long-enough-secret"}))
        .await;
    let patch = |body: Value| {
        app.client
            .patch(format!("{}/api/monitors/edited", app.ui_base))
            .json(&body)
            .send()
    };
    let id_edit = patch(json!({"webhook_id": "an-id-of-my-own-choosing-1"}))
        .await
        .unwrap();
    assert_eq!(id_edit.status().as_u16(), 400);
    let said: Value = id_edit.json().await.unwrap();
    assert!(
        said["error"].as_str().unwrap().contains("new URL"),
        "{said}"
    );
    let removed = patch(json!({"secret": null, "shrink_percent": "30"}))
        .await
        .unwrap();
    assert_eq!(removed.status().as_u16(), 200);
    let monitor: Value = removed.json().await.unwrap();
    assert_eq!(monitor["has_secret"], false);
    assert_eq!(monitor["shrink_percent"], 30);
    assert_eq!(
        monitor["shrink_runs"], 5,
        "the other half of the rule stays"
    );
    app.stop().await;
}

//! The companion Home Assistant integration's calls: the relay of reports Home Assistant
//! received at its own URL, the monitor list it follows, the URLs it reports, and taking
//! over the entries of the integration it replaces.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::kopia::kopia_message;

const KEY: &str = "x-kopia-webhook-key";
const CLIENT: &str = "x-kopia-webhook-client";

async fn integration_key(app: &TestApp) -> String {
    let status: Value = app.get_json("/api/status").await;
    status["integration_key"].as_str().unwrap().to_owned()
}

fn relay_url(app: &TestApp, id: &str, query: &str) -> String {
    format!("{}/api/integration/relay/{id}{query}", app.webhook_base)
}

#[tokio::test]
async fn a_relayed_kopia_report_is_stored_with_everything_its_sender_sent() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    assert_eq!(key.len(), 43, "256 bits, base64url");
    let monitor = app.create_monitor(json!({"name": "Laptop"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let (headers, body) = kopia_message("snapshot-report.txt.default.expected");
    let send = |key: &str| {
        let mut request = app.client.post(relay_url(&app, id, "")).header(KEY, key);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request
            .header(CLIENT, "203.0.113.7")
            .body(body.clone())
            .send()
    };

    let refused = send("not-the-key").await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(
        refused.headers()["x-kopia-webhook-refused"],
        "integration-key",
        "told apart from a sender's wrong signature"
    );
    assert!(refused.text().await.unwrap().contains("integration key"));
    assert!(app.events("laptop", "").await.is_empty());

    let relayed = send(&key).await.unwrap();
    assert_eq!(relayed.status().as_u16(), 200, "Kopia needs exactly 200");
    let answer: Value = relayed.json().await.unwrap();
    let events = app.events("laptop", "").await;
    assert_eq!(answer, json!({"ok": true, "events": events.len()}));
    assert!(!events.is_empty());
    assert_eq!(events[0]["sender"], "kopia");
    assert!(
        events[0]["host"].as_str().is_some_and(|h| !h.is_empty()),
        "the host comes from the relayed Subject: {}",
        events[0]
    );
    app.stop().await;
}

#[tokio::test]
async fn relayed_requests_are_read_by_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let monitor = app.create_monitor(json!({"name": "Cron"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();

    let start = app
        .client
        .get(relay_url(&app, id, "?event=start"))
        .header(KEY, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 200);
    assert_eq!(start.text().await.unwrap(), "OK", "a ping's answer");
    let done = app
        .client
        .post(relay_url(&app, id, ""))
        .header(KEY, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(done.text().await.unwrap(), "OK", "an empty POST is a ping");
    let down = app
        .client
        .get(relay_url(&app, id, "?status=down&msg=disk%20full"))
        .header(KEY, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(down.status().as_u16(), 200);
    assert_eq!(down.json::<Value>().await.unwrap(), json!({"ok": true}));

    let events = app.events("cron", "").await;
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("run", "failed"), ("run", "success"), ("start", "unknown")],
        "newest first: {events:?}"
    );
    assert_eq!(events[0]["error"], "disk full");
    assert!(events[1]["duration_ms"].is_i64(), "paired with its start");
    app.stop().await;
}

/// Throttling and the list of refused requests see the sender's address, not Home
/// Assistant's: one misbehaving sender does not throttle every relayed report.
#[tokio::test]
async fn a_relayed_refusal_names_the_senders_address() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let monitor = app
        .create_monitor(json!({"name": "SB", "secret": "signing-secret"}))
        .await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let forged = app
        .client
        .post(relay_url(&app, id, ""))
        .header(KEY, &key)
        .header(CLIENT, "198.51.100.23")
        .header("SB-Signature", "00")
        .header("Content-Type", "application/json")
        .body(r#"{"status":"success"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401, "the add-on's own 401");
    assert!(!forged.headers().contains_key("x-kopia-webhook-refused"));
    let mut refused: Vec<Value> = Vec::new();
    for _ in 0..50 {
        refused = app.get_json("/api/monitors/sb/rejections").await;
        if !refused.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused[0]["peer"], "198.51.100.23", "{refused:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_monitor_list_answers_at_once_when_a_monitor_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let list = |query: &str| {
        app.client
            .get(format!(
                "{}/api/integration/monitors{query}",
                app.webhook_base
            ))
            .header(KEY, &key)
            .send()
    };
    let wrong = app
        .client
        .get(format!("{}/api/integration/monitors", app.webhook_base))
        .header(KEY, "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let first: Value = list("").await.unwrap().json().await.unwrap();
    assert_eq!(first["monitors"], json!([]));
    let version = first["version"].as_u64().unwrap();

    let waiting = tokio::spawn(list(&format!("?since={version}")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "nothing changed yet: it waits");
    let created = app.create_monitor(json!({"name": "NAS"})).await;
    // Well before the 25 s the request is held at most.
    let changed: Value = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("answered on the change")
        .unwrap()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(changed["version"].as_u64().unwrap() > version);
    assert_eq!(changed["monitors"][0]["webhook_id"], created["webhook_id"]);
    assert_eq!(changed["monitors"][0]["status"], "unknown");
    app.stop().await;
}

#[tokio::test]
async fn urls_from_anywhere_follow_what_the_integration_reports() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let monitor = app.create_monitor(json!({"name": "NAS"})).await;
    assert_eq!(monitor["url_from_anywhere"], Value::Null);
    let dashboard = app.get_ui("/").await.text().await.unwrap();
    assert!(dashboard.contains(&key), "the panel shows the key");
    assert!(!dashboard.contains("connected</span>"));

    let told = app
        .client
        .put(format!(
            "{}/api/integration/home-assistant",
            app.webhook_base
        ))
        .header(KEY, &key)
        .json(&json!({"external": "https://ha.example.org", "cloud": null, "version": "2026.11.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(told.status().as_u16(), 204);
    let id = monitor["webhook_id"].as_str().unwrap();
    let monitor: Value = app.get_json("/api/monitors/nas").await;
    assert_eq!(
        monitor["url_from_anywhere"],
        format!("https://ha.example.org/api/webhook/{id}")
    );
    let page = app.get_ui("/monitors/nas").await.text().await.unwrap();
    assert!(page.contains(&format!("https://ha.example.org/api/webhook/{id}")));
    let status: Value = app.get_json("/api/status").await;
    assert_eq!(status["integration"]["connected"], true);

    let bad = app
        .client
        .put(format!(
            "{}/api/integration/home-assistant",
            app.webhook_base
        ))
        .header(KEY, &key)
        .json(&json!({"externl": "typo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    app.stop().await;
}

/// The replaced integration's entries become monitors with the same webhook ID, short and
/// lower-case as they were, so Kopia keeps posting to the same URL.
#[tokio::test]
async fn an_entry_of_the_replaced_integration_becomes_a_monitor_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let adopt = || {
        app.client
            .post(format!("{}/api/integration/legacy", app.webhook_base))
            .header(KEY, &key)
            .json(&json!({"webhook_id": "server_1_backup", "name": "Kopia Status (server_1_backup)", "history_limit": 15}))
            .send()
    };
    let first = adopt().await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let monitor: Value = first.json().await.unwrap();
    // Not named after the ID: that is a secret, and names become entity IDs.
    assert_eq!(monitor["name"], "Kopia backup");
    assert_eq!(monitor["key"], "backup");
    assert_eq!(monitor["webhook_id"], "server_1_backup");
    assert_eq!(monitor["history_limit"], 15);
    let again = adopt().await.unwrap();
    assert_eq!(again.status().as_u16(), 200, "asking twice changes nothing");
    let monitors: Vec<Value> = app.get_json("/api/monitors").await;
    assert_eq!(monitors.len(), 1);
    let second = app
        .client
        .post(format!("{}/api/integration/legacy", app.webhook_base))
        .header(KEY, &key)
        .json(&json!({"webhook_id": "laptop_hook", "name": "Laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status().as_u16(), 201);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["name"], "Laptop", "a renamed entry keeps its name");

    // The JSON template the replaced integration told Kopia users to send.
    let report = json!({
        "path": "/home/me", "status": "success", "startTime": "2026-12-05T01:00:00Z",
        "endTime": "2026-12-05T01:02:00Z", "duration": "2m0s", "size": "1.2 GB",
        "files": "1200", "directories": "40", "error": ""
    });
    let stored = app
        .client
        .post(relay_url(&app, "server_1_backup", ""))
        .header(KEY, &key)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status().as_u16(), 200);
    let events = app.events("backup", "").await;
    assert_eq!(events[0]["status"], "success", "{events:?}");
    assert_eq!(events[0]["source"], "/home/me");
    app.stop().await;
}

/// A report the integration held while the add-on was away keeps the time it reached Home
/// Assistant; a time in the future is not believed.
#[tokio::test]
async fn a_held_report_keeps_the_time_it_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let monitor = app.create_monitor(json!({"name": "Away"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let arrived = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
    for received in [arrived.to_string(), "2999-01-01T00:00:00Z".to_owned()] {
        let answer = app
            .client
            .post(relay_url(&app, id, "?event=fail"))
            .header(KEY, &key)
            .header("x-kopia-webhook-received", received)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
    }
    let events = app.events("away", "").await;
    let received: Vec<jiff::Timestamp> = events
        .iter()
        .map(|e| e["received_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(received.len(), 2);
    assert!(received[0] > arrived, "the future is now: {received:?}");
    assert_eq!(received[1].as_second(), arrived.as_second(), "{received:?}");
    app.stop().await;
}

/// Without a Supervisor the integration shows the panel in Home Assistant's sidebar through
/// its proxy: the pages on the webhook port, only with the key, links under the proxy's path,
/// forms only from the page's own origin.
#[tokio::test]
async fn the_panel_is_served_to_the_integrations_proxy_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let panel = |path: &str| format!("{}/api/integration/panel/{path}", app.webhook_base);

    let refused = app.client.get(panel("")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401, "no key, no panel");
    let listed: Value = app
        .client
        .get(format!("{}/api/integration/monitors", app.webhook_base))
        .header(KEY, &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["ingress"], false,
        "no Supervisor: the integration shows the panel"
    );

    let page = app
        .client
        .get(panel(""))
        .header(KEY, &key)
        .header("x-ingress-path", "/api/kopia_webhook/panel")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'self'")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<base href="/api/kopia_webhook/panel/">"#),
        "{html}"
    );

    let create = |origin: &str| {
        app.client
            .post(panel("monitors"))
            .header(KEY, &key)
            .header("x-ingress-path", "/api/kopia_webhook/panel")
            .header("x-forwarded-host", "ha.example.org")
            .header("origin", origin)
            .form(&[("name", "From the sidebar")])
            .send()
    };
    let foreign = create("https://evil.example").await.unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let created = create("https://ha.example.org").await.unwrap();
    assert_eq!(created.status().as_u16(), 303, "{:?}", created.text().await);
    assert!(
        created.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/api/kopia_webhook/panel/monitors/")
    );
    let monitors: Vec<Value> = app.get_json("/api/monitors").await;
    assert_eq!(monitors[0]["name"], "From the sidebar");
    app.stop().await;
}

/// Home Assistant Container: no token to paste. The integration hands over Core's address
/// and a token of its own user; entities flow at once and after a restart, and stop when
/// the integration takes the connection back.
#[tokio::test]
async fn the_integration_hands_over_home_assistants_connection() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    mount_accept_all(&core).await;
    let app = spawn_app(dir.path(), None).await;
    let key = integration_key(&app).await;
    let pushes = |app: &TestApp| {
        let url = format!("{}/api/integration/monitors", app.webhook_base);
        let client = app.client.clone();
        let key = key.clone();
        async move {
            let listed: Value = client
                .get(url)
                .header(KEY, key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            listed["pushes"].as_bool().unwrap()
        }
    };
    assert!(!pushes(&app).await);
    let monitor = app.create_monitor(json!({"name": "NAS"})).await;
    let handed = app
        .client
        .put(format!("{}/api/integration/core", app.webhook_base))
        .header(KEY, &key)
        .json(&json!({"url": core.uri(), "token": CORE_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(handed.status().as_u16(), 204);
    assert!(pushes(&app).await);
    let (request, _) = wait_for_state(&core, "sensor.kopia_nas", |_| true).await;
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {CORE_TOKEN}").as_str(),
        "the integration's token"
    );
    let status: Value = app.get_json("/api/status").await;
    assert!(!status.to_string().contains(CORE_TOKEN), "never shown");
    app.stop().await;

    // After a restart, the connection is still there.
    core.reset().await;
    mount_accept_all(&core).await;
    let app = spawn_app(dir.path(), None).await;
    assert!(pushes(&app).await);
    wait_for_state(&core, "sensor.kopia_nas", |_| true).await;

    // Taken back (the integration was removed): no more pushes, and none after a restart.
    let taken = app
        .client
        .delete(format!("{}/api/integration/core", app.webhook_base))
        .header(KEY, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status().as_u16(), 204);
    assert!(!pushes(&app).await);
    core.reset().await;
    mount_accept_all(&core).await;
    app.post_webhook(&monitor, r#"{"status":"failed","error":"x"}"#)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(states_received(&core, "sensor.kopia_nas").await.is_empty());
    app.stop().await;
    let app = spawn_app(dir.path(), None).await;
    assert!(!pushes(&app).await);
    app.stop().await;
}

/// Where the add-on has its own connection (the Supervisor's, or the environment's), the
/// integration's is refused: one Home Assistant, one token.
#[tokio::test]
async fn a_connection_of_its_own_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    mount_accept_all(&core).await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let key = integration_key(&app).await;
    let refused = app
        .client
        .put(format!("{}/api/integration/core", app.webhook_base))
        .header(KEY, &key)
        .json(&json!({"url": "http://other:8123", "token": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 409);
    app.stop().await;
}

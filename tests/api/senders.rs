//! Every sender's real payload through the real webhook listener.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{FIXTURES, TestApp, spawn_app};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn rejections(app: &TestApp, key: &str) -> Vec<Value> {
    // Refusals are recorded in the background; give them a moment.
    for _ in 0..50 {
        let list: Vec<Value> = app
            .get_json(&format!("/api/monitors/{key}/rejections"))
            .await;
        if !list.is_empty() {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn simplebackups_signed_runs_are_stored_once_even_when_retried() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let secret = "sb-team-signing-secret";
    let monitor = app
        .create_monitor(json!({"name": "SB", "secret": secret}))
        .await;
    let body = fixture("simplebackups/success.json");
    let send = |signature: String| {
        app.client
            .post(app.webhook_path(&monitor))
            .header("Content-Type", "application/json")
            .header("SB-Signature", signature)
            .body(body.clone())
            .send()
    };

    let first = send(hmac_hex(secret, &body)).await.unwrap();
    let retry = send(hmac_hex(secret, &body).to_uppercase()).await.unwrap();
    let forged = send(hmac_hex("wrong secret", &body)).await.unwrap();

    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(first.text().await.unwrap(), r#"{"ok":true,"events":1}"#);
    assert_eq!(
        retry.text().await.unwrap(),
        r#"{"ok":true,"events":0,"duplicates":1}"#
    );
    assert_eq!(forged.status().as_u16(), 401);
    let events = app.events("sb", "").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["sender"], "simplebackups");
    assert_eq!(events[0]["source"], "Acme Project");
    assert_eq!(events[0]["host"], "Acme Server");
    assert_eq!(events[0]["target"], "Acme Storage");
    assert_eq!(events[0]["duration_ms"], 540_000);
    let refused = rejections(&app, "sb").await;
    assert_eq!(refused[0]["status"], 401);
    assert!(refused[0]["reason"].as_str().unwrap().contains("signature"));
    assert!(
        refused[0]["head"]
            .as_str()
            .unwrap()
            .contains("Acme Project")
    );
    app.stop().await;
}

#[tokio::test]
async fn jvs_signed_events_with_sha256_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let secret = "your-hmac-secret-key";
    let monitor = app
        .create_monitor(json!({"name": "JVS", "secret": secret}))
        .await;
    for file in ["jvs/snapshot-created.json", "jvs/verify-failed.json"] {
        let body = fixture(file);
        let response = app
            .client
            .post(app.webhook_path(&monitor))
            .header("Content-Type", "application/json")
            .header("User-Agent", "JVS-Webhook/1.0")
            .header(
                "X-JVS-Signature",
                format!("sha256={}", hmac_hex(secret, &body)),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{file}");
    }
    let events = app.events("jvs", "").await;
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["source"], "verify");
    assert_eq!(events[1]["status"], "success");
    assert_eq!(events[1]["source"], "snapshot");
    app.stop().await;
}

#[tokio::test]
async fn duplicati_json_and_form_reports() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Duplicati"})).await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.webhook_path(&monitor))
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };

    let json = post(fixture("duplicati/backup-success.json"), "application/json")
        .await
        .unwrap();
    let retry = post(fixture("duplicati/backup-success.json"), "application/json")
        .await
        .unwrap();
    let form = post(
        fixture("duplicati/backup-warning.form"),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    let fatal = post(fixture("duplicati/backup-fatal.json"), "application/json")
        .await
        .unwrap();

    assert_eq!(json.text().await.unwrap(), r#"{"ok":true,"events":1}"#);
    assert_eq!(
        retry.text().await.unwrap(),
        r#"{"ok":true,"events":0,"duplicates":1}"#,
        "Duplicati retries are deduplicated"
    );
    assert_eq!(form.status().as_u16(), 200);
    assert_eq!(fatal.status().as_u16(), 200);
    let events = app.events("duplicati", "").await;
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "warning", "success"]);
    assert_eq!(events[2]["size_bytes"], 4_832_198_656i64);
    app.stop().await;
}

#[tokio::test]
async fn proxmox_with_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app
        .create_monitor(json!({"name": "PVE", "secret": "proxmox-token-1234"}))
        .await;
    for file in ["proxmox/vzdump-success.json", "proxmox/vzdump-failed.json"] {
        let response = app
            .client
            .post(app.webhook_path(&monitor))
            .header("Authorization", "Bearer proxmox-token-1234")
            .header("Content-Type", "application/json")
            .body(fixture(file))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{file}");
    }
    let events = app.events("pve", "").await;
    assert_eq!(events[1]["sender"], "proxmox");
    assert_eq!(events[1]["duration_ms"], 123_000);
    assert_eq!(events[0]["status"], "failed");
    app.stop().await;
}

#[tokio::test]
async fn healthchecks_pings_pair_start_and_finish_and_log_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Borg"})).await;
    let id = monitor["webhook_id"].as_str().unwrap().to_owned();
    let ping = |suffix: &str| format!("{}/ping/{id}{suffix}", app.webhook_base);
    let rid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    let start = app
        .client
        .head(ping(&format!("/start?rid={rid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 200);
    assert_eq!(start.headers()["ping-body-limit"], "100000");
    let status: Value = app.get_json("/api/monitors/borg").await;
    assert_eq!(status["status"], "running");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // borgmatic sends its logs to /log a moment before the finish.
    let log = app
        .client
        .post(ping(&format!("/log?rid={rid}")))
        .body("borg create: 1520 files")
        .send()
        .await
        .unwrap();
    assert_eq!(log.text().await.unwrap(), "OK");
    let status: Value = app.get_json("/api/monitors/borg").await;
    assert_eq!(status["status"], "running", "a log changes nothing");
    let finish = app
        .client
        .get(ping(&format!("?rid={rid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status().as_u16(), 200);

    let events = app.events("borg", "").await;
    assert_eq!(events[0]["kind"], "run");
    assert_eq!(events[0]["status"], "success");
    assert!(
        events[0]["duration_ms"].as_i64().unwrap() >= 20,
        "paired with the start: {:?}",
        events[0]
    );
    assert_eq!(events[1]["kind"], "log");

    let failed = app
        .client
        .post(ping("/2"))
        .body("rsync error\nmore")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status().as_u16(), 200);
    let events = app.events("borg", "").await;
    assert_eq!(events[0]["error"], "exit status 2: rsync error");
    app.stop().await;
}

#[tokio::test]
async fn bad_pings_are_refused_with_healthchecks_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Cron"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    for (suffix, reason) in [
        ("/256", "invalid url format"),
        ("?rid=nope", "invalid uuid format"),
        ("/later", "invalid url format"),
    ] {
        let response = app
            .client
            .get(format!("{}/ping/{id}{suffix}", app.webhook_base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{suffix}");
        assert!(response.text().await.unwrap().contains(reason), "{suffix}");
    }
    let unknown = app
        .client
        .get(format!("{}/ping/Zq3xT9bK2mWp7LrA4vYc00", app.webhook_base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert!(app.events("cron", "").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn backrest_pings_carry_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Backrest"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let response = app
        .client
        .post(format!("{}/ping/{id}", app.webhook_base))
        .header("Content-Type", "text/plain")
        .body(fixture("backrest/snapshot-success.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let event = &app.events("backrest", "").await[0];
    assert_eq!(event["sender"], "backrest");
    assert_eq!(event["source"], "daily-photos");
    assert_eq!(event["files"], 15_230);
    app.stop().await;
}

#[tokio::test]
async fn uptime_kuma_pushes_like_borgmatic_sends_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Kuma"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let push = |query: &str| {
        app.client
            .get(format!("{}/api/push/{id}?{query}", app.webhook_base))
            .send()
    };

    let start = push("status=up&msg=start").await.unwrap();
    assert_eq!(start.text().await.unwrap(), r#"{"ok":true}"#);
    let fail = push("status=down&msg=fail").await.unwrap();
    assert_eq!(fail.status().as_u16(), 200);
    let bad = push("ping=-5").await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["ok"], false);
    assert!(bad["msg"].as_str().unwrap().contains("ping"));
    let unknown = app
        .client
        .post(format!(
            "{}/api/push/Zq3xT9bK2mWp7LrA4vYc00",
            app.webhook_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(unknown.json::<Value>().await.unwrap()["ok"], false);

    let events = app.events("kuma", "").await;
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["error"], "fail");
    assert!(events[0]["duration_ms"].is_i64(), "paired with the start");
    app.stop().await;
}

/// A run's start and finish may carry the same `id`: two reports, not a resend; and the
/// `id` pairs each finish with its own start when runs overlap.
#[tokio::test]
async fn generic_json_ids_pair_overlapping_runs_and_a_finish_is_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Db"})).await;
    let send = |body: Value| {
        let app = &app;
        let monitor = &monitor;
        async move {
            let answer = app.post_webhook(monitor, body.to_string()).await;
            assert_eq!(answer.status().as_u16(), 200);
            answer.json::<Value>().await.unwrap()
        }
    };
    let start = |id: &str| json!({"kind": "start", "source": "db", "id": id});
    assert_eq!(send(start("r1")).await, json!({"ok": true, "events": 1}));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(send(start("r2")).await, json!({"ok": true, "events": 1}));
    let finish = json!({"status": "success", "source": "db", "id": "r1"});
    assert_eq!(send(finish.clone()).await, json!({"ok": true, "events": 1}));
    assert_eq!(
        send(finish).await,
        json!({"ok": true, "events": 0, "duplicates": 1}),
        "the same finish again is a resend"
    );
    let events = app.events("db", "").await;
    let starts: Vec<&Value> = events.iter().filter(|e| e["kind"] == "start").collect();
    let runs: Vec<&Value> = events.iter().filter(|e| e["kind"] == "run").collect();
    assert_eq!((starts.len(), runs.len()), (2, 1));
    // Newest first: starts[1] is r1's.
    assert_eq!(
        runs[0]["started_at"], starts[1]["received_at"],
        "r1's start, not r2's"
    );
    app.stop().await;
}

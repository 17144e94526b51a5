use serde_json::json;

use crate::helpers::{CORE_TOKEN, fake_core, spawn_app, wait_for_state};

#[tokio::test]
async fn kopias_default_report_becomes_one_event_per_snapshot_and_a_failed_sensor() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Server One"})).await;

    // Act
    let response = app
        .post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;

    // Assert: exactly 200 with the count, only after the commit.
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"ok":true,"events":4}"#);
    let events = app.events("server_one", "").await;
    assert_eq!(events.len(), 4);
    let oldest = &events[3];
    assert_eq!(oldest["source"], "/some/other/path");
    assert_eq!(oldest["status"], "failed");
    assert_eq!(oldest["error"], "some top-level error");
    let newest = &events[0];
    assert_eq!(newest["source"], "/some/path2");
    assert_eq!(newest["kind"], "run");
    assert_eq!(newest["sender"], "kopia");
    assert_eq!(newest["started_at"], "2020-01-02T03:04:05Z");
    assert_eq!(newest["finished_at"], "2020-01-02T03:04:06.1Z");
    assert_eq!(newest["duration_ms"], 1100);
    assert_eq!(newest["size_bytes"], 456);
    assert_eq!(newest["files"], 123);
    assert_eq!(newest["dirs"], 33);

    let (request, state) =
        wait_for_state(&core, "sensor.kopia_server_one", |s| s["state"] == "failed").await;
    assert_eq!(
        request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {CORE_TOKEN}")
    );
    let attributes = &state["attributes"];
    assert_eq!(attributes["friendly_name"], "Server One");
    assert_eq!(attributes["sender"], "kopia");
    assert_eq!(attributes["source"], "/some/other/path");
    assert_eq!(
        attributes["error"], "/some/other/path: some top-level error",
        "the error names the path that failed"
    );
    assert_eq!(attributes["last_success"], "2020-01-02T03:04:06.1Z");
    let history = attributes["history"].as_array().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0]["source"], "/some/path2", "newest first");
    assert!(serde_json::to_vec(attributes).unwrap().len() <= 8192);
    app.stop().await;
}

#[tokio::test]
async fn the_test_notification_is_acknowledged_and_turns_the_sensor_green() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Laptop"})).await;

    let response = app.post_kopia(&monitor, "test-notification.txt").await;

    assert_eq!(response.status().as_u16(), 200);
    let events = app.events("laptop", "").await;
    assert_eq!(events[0]["kind"], "test");
    wait_for_state(&core, "sensor.kopia_laptop", |s| s["state"] == "success").await;
    app.stop().await;
}

#[tokio::test]
async fn kopias_generic_error_is_a_failed_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Maintenance"})).await;

    let response = app
        .post_kopia(&monitor, "generic-error.txt.default.expected")
        .await;

    assert_eq!(response.status().as_u16(), 200);
    let events = app.events("maintenance", "").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["error"], "Some Operation failed: error details");
    let monitor: serde_json::Value = app.get_json("/api/monitors/maintenance").await;
    assert_eq!(monitor["status"], "failed");
    app.stop().await;
}

#[tokio::test]
async fn a_subject_with_utf8_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Umlaut"})).await;
    let subject = reqwest::header::HeaderValue::from_bytes(
        "Failed to create a snapshot of /home/jürgen on nas".as_bytes(),
    )
    .unwrap();
    let response = app
        .client
        .post(app.webhook_path(&monitor))
        .header("Subject", subject)
        .body("Path: /home/jürgen\n\n  Duration:    1s")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let event = &app.events("umlaut", "").await[0];
    assert_eq!(event["source"], "/home/jürgen");
    assert_eq!(
        event["status"], "failed",
        "the status came from the UTF-8 Subject"
    );
    app.stop().await;
}

#[tokio::test]
async fn kopia_may_use_put() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Put"})).await;
    let (headers, body) = crate::helpers::kopia_message("snapshot-report.txt.success.expected");
    let mut request = app.client.put(app.webhook_path(&monitor)).body(body);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 200);
    assert_eq!(app.events("put", "").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_seeds_json_template_is_understood() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Json"})).await;
    let body = r#"{"path": "/srv", "status": "success", "startTime": "2026-01-02 03:04:05 +0000 UTC",
        "endTime": "2026-01-02 03:14:05 +0000 UTC", "duration": "10m0s", "size": "2048",
        "files": "12", "directories": "3", "error": ""}"#;

    let response = app
        .client
        .post(app.webhook_path(&monitor))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let event = &app.events("json", "").await[0];
    assert_eq!(event["source"], "/srv");
    assert_eq!(event["duration_ms"], 600_000);
    assert_eq!(event["size_bytes"], 2048);
    app.stop().await;
}

#[tokio::test]
async fn the_json_template_from_the_docs_as_kopia_renders_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Kopia JSON"})).await;
    // DOCS.md's template rendered for two snapshots (Go's `js` turns ' into \').
    let body = r#"[{"source":"/home/o\'brien","status":"success","started_at":"2020-01-02T03:04:05Z","duration":"1.1s","size_bytes":456,"files":123,"dirs":33,"error":""},{"source":"/some/other/path","status":"fatal","started_at":"1970-01-01T00:00:00Z","duration":"0s","size_bytes":0,"files":0,"dirs":0,"error":"some top-level error"}]"#;

    let response = app
        .client
        .post(app.webhook_path(&monitor))
        .header("Subject", "Failed to create 1 of 2 snapshots on some-host")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.text().await.unwrap(), r#"{"ok":true,"events":2}"#);
    let events = app.events("json", "").await;
    assert_eq!(events[1]["source"], "/home/o'brien");
    assert_eq!(events[1]["duration_ms"], 1100);
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["error"], "some top-level error");
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_get_a_404_without_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    for id in [
        "Zq3xT9bK2mWp7LrA4vYc00",
        "short",
        &"x".repeat(5000),
        "a%2F..%2F..%2Fetc",
    ] {
        let response = app
            .client
            .post(format!("{}/api/webhook/{id}", app.webhook_base))
            .body("Path: /x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{id}");
        assert_eq!(
            response.text().await.unwrap(),
            "not found: no monitor has this webhook URL; copy it again from the add-on's panel in Home Assistant\n",
            "every unknown or malformed ID gets the same answer"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_a_413_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Big"})).await;

    let response = app
        .post_webhook(&monitor, vec![b'a'; 1024 * 1024 + 1])
        .await;

    assert_eq!(response.status().as_u16(), 413);
    assert!(app.events("big", "").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_400_that_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Bad"})).await;
    let cases = [
        ("", None, "empty"),
        ("{\"status\": ", Some("application/json"), "not valid JSON"),
        (
            "{\"status\":\"success\",\"started_at\":\"someday\"}",
            Some("application/json"),
            "started_at",
        ),
    ];
    for (body, content_type, reason) in cases {
        let mut request = app.client.post(app.webhook_path(&monitor)).body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains(reason), "{body:?} -> {text}");
    }
    assert!(app.events("bad", "").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn unrecognised_bodies_are_kept_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Odd"})).await;
    let response = app.post_webhook(&monitor, "backup went fine I think").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.events("odd", "").await[0]["kind"], "unrecognized");
    let page = app.get_ui("/monitors/odd").await.text().await.unwrap();
    assert!(
        page.contains("backup went fine I think"),
        "the body is shown in the panel"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_monitor_with_a_secret_requires_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app
        .create_monitor(json!({"name": "Signed", "secret": "correct horse battery"}))
        .await;
    let body = r#"{"status":"success","source":"db"}"#;

    let unsigned = app.post_webhook(&monitor, body).await;
    let wrong = app
        .client
        .post(app.webhook_path(&monitor))
        .bearer_auth("wrong")
        .body(body)
        .send()
        .await
        .unwrap();
    let right = app
        .client
        .post(app.webhook_path(&monitor))
        .bearer_auth("correct horse battery")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(unsigned.status().as_u16(), 401);
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(right.status().as_u16(), 200);
    assert_eq!(app.events("signed", "").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn both_listeners_answer_health_checks() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    for base in [&app.webhook_base, &app.ui_base] {
        let response = app
            .client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{base}");
    }
    // The webhook port serves nothing of the panel.
    let panel = app
        .client
        .get(format!("{}/", app.webhook_base))
        .send()
        .await
        .unwrap();
    assert_eq!(panel.status().as_u16(), 404);
    app.stop().await;
}

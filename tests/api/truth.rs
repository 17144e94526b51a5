//! What the user sees is true: statuses nobody understood, failed sources, bodies no sender
//! reads, logs, overlapping runs, the test button.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_misspelled_status_is_a_named_warning_and_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Script"})).await;
    let response = app
        .post_webhook(&monitor, r#"{"status":"sucess","source":"db"}"#)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let (_, state) =
        wait_for_state(&core, "sensor.kopia_script", |s| s["state"] == "warning").await;
    assert_eq!(
        state["attributes"]["error"],
        "db: status 'sucess' not understood"
    );
    wait_for_state(&core, "binary_sensor.kopia_script_problem", |s| {
        s["state"] == "on"
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_no_sender_reads_is_kept_and_said_to_be_not_understood() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Form"})).await;
    let response = app
        .client
        .post(app.webhook_path(&monitor))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("status=ok&source=db")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "kept, never lost");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["events"], 1);
    let why = answer["not_understood"].as_str().unwrap();
    assert!(why.contains("a form with fields status, source"), "{why}");
    let (_, state) = wait_for_state(&core, "sensor.kopia_form", |s| s["state"] == "warning").await;
    assert!(
        state["attributes"]["error"]
            .as_str()
            .unwrap()
            .contains("not understood"),
        "{state}"
    );
    let broken = app
        .post_webhook(&monitor, r#"{"status":"success","source":"db",}"#)
        .await;
    let answer: Value = broken.json().await.unwrap();
    assert!(
        answer["not_understood"]
            .as_str()
            .unwrap()
            .contains("not valid JSON (trailing comma at line 1 column"),
        "{answer}"
    );
    // A report that is understood clears the warning.
    app.post_webhook(&monitor, r#"{"status":"success","source":"db"}"#)
        .await;
    wait_for_state(&core, "sensor.kopia_form", |s| s["state"] == "success").await;
    app.stop().await;
}

#[tokio::test]
async fn a_failed_source_stays_named_and_a_retired_source_stops_counting() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Server"})).await;
    let report = |source: &str, status: &str, size: u64, error: &str| {
        json!({"status": status, "source": source, "size_bytes": size, "error": error}).to_string()
    };
    app.post_webhook(&monitor, report("/home", "success", 5000, ""))
        .await;
    app.post_webhook(&monitor, report("/etc", "success", 100, ""))
        .await;
    app.post_webhook(
        &monitor,
        report("/home", "failed", 0, "unable to open repository"),
    )
    .await;
    app.post_webhook(&monitor, report("/etc", "success", 120, ""))
        .await;
    let status: Value = app.get_json("/api/monitors/server").await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"], "/home: unable to open repository");
    let sources = status["sources"].as_array().unwrap();
    let home = sources.iter().find(|s| s["source"] == "/home").unwrap();
    assert_eq!(home["status"], "failed");
    assert_eq!(home["size_bytes"], 5000, "the last good backup's size");
    assert!(home["last_success"].is_string());

    let (_, page) = crate::panel::page(&app, "/monitors/server").await;
    let html = page.html();
    assert!(html.contains("/home: unable to open repository"));
    assert!(html.contains("Retire"), "each source can be retired");

    // /home is no longer backed up: retire it.
    let retired = app
        .client
        .post(format!(
            "{}/api/monitors/server/sources/retire",
            app.ui_base
        ))
        .json(&json!({"source": "/home"}))
        .send()
        .await
        .unwrap();
    assert_eq!(retired.status().as_u16(), 204);
    let status: Value = app.get_json("/api/monitors/server").await;
    assert_eq!(status["status"], "success");
    assert_eq!(status["sources"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn overlapping_pinged_runs_each_get_their_own_duration() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Cron"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let ping = |suffix: &str, rid: &str| {
        app.client
            .post(format!("{}/ping/{id}{suffix}?rid={rid}", app.webhook_base))
            .send()
    };
    let a = "11111111-1111-4111-8111-111111111111";
    let b = "22222222-2222-4222-8222-222222222222";
    ping("/start", a).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ping("/start", b).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ping("", a).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ping("/fail", b).await.unwrap();
    let events = app.events("cron", "").await;
    let runs: Vec<&Value> = events.iter().filter(|e| e["kind"] == "run").collect();
    assert_eq!(runs.len(), 2);
    let duration = |status: &str| {
        runs.iter().find(|r| r["status"] == status).unwrap()["duration_ms"]
            .as_i64()
            .unwrap()
    };
    assert!(
        (550..1500).contains(&duration("success")),
        "run A: start to its own end"
    );
    assert!(
        (550..1500).contains(&duration("failed")),
        "run B: start to its own end"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_failure_log_names_the_line_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Borg"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let log = std::fs::read_to_string(format!("{FIXTURES}/borgmatic/fail-log.txt")).unwrap();
    let response = app
        .client
        .post(format!("{}/ping/{id}/fail", app.webhook_base))
        .body(log.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let events = app.events("borg", "").await;
    let error = events[0]["error"].as_str().unwrap();
    assert!(error.contains("does not exist"), "{error}");
    assert!(!error.contains("Pinging"), "{error}");
    app.stop().await;
}

#[tokio::test]
async fn the_test_button_says_when_nothing_goes_to_home_assistant() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Quiet"})).await;
    let response = app
        .client
        .post(format!("{}/monitors/quiet/test", app.ui_base))
        .header("Origin", &app.ui_base)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) =
        crate::panel::page(&app, &format!("/{}", location.trim_start_matches('/'))).await;
    let html = page.html();
    assert!(
        html.contains("not sent to Home Assistant (pushes are off"),
        "{location}"
    );
    app.stop().await;
}

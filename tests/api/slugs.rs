//! Monitors that create themselves: Healthchecks' slug URLs with the add-on's ping key.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::kopia::kopia_message;

async fn ping_key(app: &TestApp) -> String {
    let status: Value = app.get_json("/api/status").await;
    status["ping_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_ping_with_create_makes_the_monitor_and_answers_200() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = ping_key(&app).await;
    assert_eq!(key.len(), 22);
    let url = |tail: &str| format!("{}/ping/{key}/{tail}", app.webhook_base);

    let unknown = app.client.get(url("nas-photos")).send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404, "no create=1, no monitor");

    let created = app
        .client
        .post(url("nas-photos/start?create=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status().as_u16(),
        200,
        "200, not 201: Backrest refuses 201"
    );
    let body: Value = created.json().await.unwrap();
    assert_eq!(body, json!({"ok": true, "created": "nas_photos"}));

    let done = app.client.post(url("nas-photos")).send().await.unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert_eq!(done.text().await.unwrap(), "OK");
    let failed = app.client.post(url("nas-photos/2")).send().await.unwrap();
    assert_eq!(failed.status().as_u16(), 200);

    let monitor: Value = app.get_json("/api/monitors/nas_photos").await;
    assert_eq!(monitor["name"], "nas-photos");
    assert_eq!(monitor["slug"], "nas-photos");
    assert_eq!(monitor["unseen"], true);
    assert_eq!(monitor["status"], "failed");
    let events = app.events("nas_photos", "").await;
    assert_eq!(events.len(), 3);
    assert!(
        events[1]["duration_ms"].is_i64(),
        "the run paired with its start"
    );

    // A slug typed in capitals is the same slug.
    let upper = app.client.get(url("NAS-Photos")).send().await.unwrap();
    assert_eq!(upper.status().as_u16(), 200, "a slug in capitals is a slug");
    assert_eq!(app.events("nas_photos", "").await.len(), 4);
    let invalid = app
        .client
        .get(url("nas.photos?create=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        invalid.status().as_u16(),
        400,
        "Healthchecks: invalid url format"
    );
    let wrong_key = app
        .client
        .get(format!(
            "{}/ping/zzzzzzzzzzzzzzzzzzzzzz/nas-photos?create=1",
            app.webhook_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status().as_u16(), 404);

    // Opening the monitor in the panel takes the "new" mark away.
    let (_, dashboard) = crate::panel::page(&app, "/").await;
    assert!(dashboard.html().contains("pill-new"));
    crate::panel::page(&app, "/monitors/nas_photos").await;
    let monitor: Value = app.get_json("/api/monitors/nas_photos").await;
    assert_eq!(monitor["unseen"], false);
    app.stop().await;
}

#[tokio::test]
async fn kopias_report_to_a_slug_url_creates_its_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = ping_key(&app).await;
    let (headers, body) = kopia_message("snapshot-report.txt.success.expected");
    let mut request = app
        .client
        .post(format!(
            "{}/api/webhook/{key}/laptop?create=1",
            app.webhook_base
        ))
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["created"], "laptop");
    assert_eq!(answer["events"], 1);
    let monitor: Value = app.get_json("/api/monitors/laptop").await;
    assert_eq!(monitor["status"], "success");
    app.stop().await;
}

#[tokio::test]
async fn an_existing_monitor_is_reached_by_its_slug_and_a_rotated_key_stops_old_urls() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Server One"})).await;
    let key = ping_key(&app).await;
    let ping = app
        .client
        .get(format!("{}/ping/{key}/server-one", app.webhook_base))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status().as_u16(), 200);
    assert_eq!(app.events("server_one", "").await.len(), 1);

    let rotated = app
        .client
        .post(format!("{}/ping-key/rotate", app.ui_base))
        .header("Origin", &app.ui_base)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status().as_u16(), 303);
    let new_key = ping_key(&app).await;
    assert_ne!(new_key, key);
    let old = app
        .client
        .get(format!("{}/ping/{key}/server-one", app.webhook_base))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status().as_u16(), 404);
    app.stop().await;
}

#[tokio::test]
async fn create_makes_no_more_than_two_hundred_monitors_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let key = ping_key(&app).await;
    for n in 0..199 {
        app.create_monitor(json!({"name": format!("Job {n}")}))
            .await;
    }
    let url = |slug: &str| format!("{}/ping/{key}/{slug}?create=1", app.webhook_base);
    let last = app.client.get(url("job-last")).send().await.unwrap();
    assert_eq!(last.status().as_u16(), 200, "the 200th is made");
    let over = app.client.get(url("one-too-many")).send().await.unwrap();
    assert_eq!(over.status().as_u16(), 409);
    let text = over.text().await.unwrap();
    assert!(text.contains("makes no more monitors"), "{text}");
    let missing = app.get_ui("/api/monitors/one_too_many").await;
    assert_eq!(missing.status().as_u16(), 404);
    app.stop().await;
}

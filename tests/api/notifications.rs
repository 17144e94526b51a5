//! Notification services' shapes, composed from what each sends (senders-2.md): Shoutrrr's
//! generic service, ntfy publishing (headers, query, JSON), Gotify messages (Backrest,
//! Proxmox), and Duplicati's live status while a backup runs.

use serde_json::{Value, json};

use crate::helpers::*;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

async fn post(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.webhook_base))
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn duplicatis_live_status_shows_a_running_backup_until_its_report_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Photos"})).await;
    let url = format!("/api/webhook/{}", monitor["webhook_id"].as_str().unwrap());

    for file in ["live-started.json", "live-progress.json"] {
        let answer = post(&app, &url, fixture(&format!("duplicati/{file}"))).await;
        assert_eq!(answer.status().as_u16(), 200, "{file}");
    }
    let status: Value = app.get_json("/api/monitors/photos").await;
    assert_eq!(status["status"], "running");
    assert_eq!(status["progress"]["fraction"], 0.42);
    assert_eq!(status["progress"]["phase"], "Backup_ProcessingFiles");
    assert_eq!(status["progress"]["files_done"], 1200);
    assert!(
        app.events("photos", "").await.is_empty(),
        "progress reports are not history rows"
    );
    let (_, state) = wait_for_state(&core, "sensor.kopia_photos", |s| {
        s["attributes"]["progress"] == 42.0
    })
    .await;
    assert_eq!(state["state"], "running");
    assert_eq!(state["attributes"]["phase"], "Backup_ProcessingFiles");
    let page = app.get_ui("/monitors/photos").await.text().await.unwrap();
    assert!(
        page.contains(
            "Running: 42 % · Backup_ProcessingFiles · 1200 of 2900 files · 734.0 MB of 1.80 GB"
        ),
        "the panel shows how far it is"
    );
    let dashboard = app.get_ui("/").await.text().await.unwrap();
    assert!(dashboard.contains("42 %"));

    // Completed: the progress goes; the result comes with the final report.
    post(&app, &url, fixture("duplicati/live-completed.json")).await;
    let status: Value = app.get_json("/api/monitors/photos").await;
    assert_eq!(status["progress"], Value::Null);
    let events = app.events("photos", "").await;
    assert_eq!(events[0]["kind"], "log");
    post(&app, &url, fixture("duplicati/backup-success.json")).await;
    let status: Value = app.get_json("/api/monitors/photos").await;
    assert_eq!(status["status"], "success");
    wait_for_state(&core, "sensor.kopia_photos", |s| s["state"] == "success").await;

    // A run an exception stopped is a failure at once.
    post(&app, &url, fixture("duplicati/live-started.json")).await;
    post(&app, &url, fixture("duplicati/live-failed.json")).await;
    let status: Value = app.get_json("/api/monitors/photos").await;
    assert_eq!(status["status"], "failed");
    assert_eq!(
        status["error"],
        "Photos: The remote server returned an error: (403) Forbidden."
    );
    app.stop().await;
}

#[tokio::test]
async fn shoutrrr_generic_json_and_bare_text_are_read_from_their_words() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Volumes"})).await;
    // docker-volume-backup through `generic+http://…?template=json`.
    let failed = app
        .post_webhook(
            &monitor,
            r#"{"message":"Running docker-volume-backup failed with error: exit status 1","title":"Failure running docker-volume-backup at 2026-08-20T03:00:00Z"}"#,
        )
        .await;
    assert_eq!(failed.status().as_u16(), 200);
    let e = app.events("volumes", "").await.remove(0);
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("shoutrrr"), Some("failed"))
    );
    // Backrest's Shoutrrr hook: `{"message": <its summary>}`.
    let summary = fixture("backrest/snapshot-success.txt");
    let backrest = app
        .post_webhook(&monitor, json!({ "message": summary }).to_string())
        .await;
    assert_eq!(backrest.status().as_u16(), 200);
    let e = app.events("volumes", "").await.remove(0);
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("backrest"), Some("success"))
    );
    // Without a template, the bare message.
    app.post_webhook(&monitor, "Backup of /srv completed with warnings")
        .await;
    let e = app.events("volumes", "").await.remove(0);
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("text"), Some("warning"))
    );
    // Words nobody can read stay a named warning.
    let answer: Value = app
        .post_webhook(&monitor, "Nightly job output attached")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        answer["not_understood"]
            .as_str()
            .unwrap()
            .contains("Nightly job output attached")
    );
    app.stop().await;
}

#[tokio::test]
async fn ntfy_publishing_in_all_three_forms_answers_like_ntfy() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Scripts"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let newest = || async { app.events("scripts", "").await.remove(0) };

    // Shoutrrr's ntfy:// and curl: the body is the message, the rest in headers.
    let answer = app
        .client
        .put(format!("{}/ntfy/{id}", app.webhook_base))
        .header("Title", "Backup finished")
        .header("Priority", "low")
        .header("Tags", "white_check_mark")
        .body("12 GB in 4 min")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["event"], "message");
    assert_eq!(answer["topic"], id);
    assert_eq!(newest().await["status"], "success");

    // At the root, as Shoutrrr's ntfy://host/<topic> posts.
    let root = post(&app, &format!("/{id}"), "Backup failed: disk full").await;
    assert_eq!(root.status().as_u16(), 200);
    let e = newest().await;
    assert_eq!(
        (e["status"].as_str(), e["error"].as_str()),
        (Some("failed"), Some("Backup failed: disk full"))
    );

    // The query form.
    let get = app
        .client
        .get(format!(
            "{}/ntfy/{id}/publish?t=Nightly&m=see+log&p=urgent",
            app.webhook_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 200);
    assert_eq!(newest().await["status"], "failed", "urgent and no words");

    // JSON to /ntfy, as borgmatic 2.1 publishes.
    let json_publish = post(
        &app,
        "/ntfy",
        json!({"topic": id, "title": "A borgmatic START event happened", "message": "A borgmatic START event happened", "priority": 3, "tags": ["borgmatic"]}).to_string(),
    )
    .await;
    assert_eq!(json_publish.status().as_u16(), 200);
    assert_eq!(newest().await["kind"], "start");
    let status: Value = app.get_json("/api/monitors/scripts").await;
    assert_eq!(status["status"], "running");

    // A topic that is no monitor's ID, and a string priority, say what is wrong.
    let unknown = post(&app, "/ntfy/not-a-monitor-id-at-all", "x").await;
    assert_eq!(unknown.status().as_u16(), 404);
    let huge = post(&app, "/ntfy", "x".repeat(1024 * 1024 + 1)).await;
    assert_eq!(
        huge.status().as_u16(),
        413,
        "the webhook body limit holds here too"
    );
    let bad = post(
        &app,
        "/ntfy",
        json!({"topic": id, "message": "x", "priority": "high"}).to_string(),
    )
    .await;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await.unwrap().contains("priority"));
    app.stop().await;
}

#[tokio::test]
async fn gotify_messages_from_backrest_and_proxmox_find_their_monitor_by_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Gotified"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();

    // Backrest: POST <base>/message?token=…, its summary as the message.
    let summary = fixture("backrest/snapshot-success.txt");
    let backrest = app
        .client
        .post(format!("{}/message?token={id}", app.webhook_base))
        .json(&json!({"message": summary, "title": "Backrest Event", "priority": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(backrest.status().as_u16(), 200);
    let answer: Value = backrest.json().await.unwrap();
    assert_eq!(answer["title"], "Backrest Event");
    let e = app.events("gotified", "").await.remove(0);
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("backrest"), Some("success"))
    );

    // Proxmox: both headers, a fenced message, priority 9 for an error.
    let proxmox = app
        .client
        .post(format!("{}/message", app.webhook_base))
        .bearer_auth(id)
        .header("X-Gotify-Key", id)
        .json(&json!({"title": "vzdump backup status (pve1.lan): backup failed", "message": "```\nvzdump job failed: storage 'nas' is not online\n```", "priority": 9, "extras": {"client::display": {"contentType": "text/markdown"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(proxmox.status().as_u16(), 200);
    let e = app.events("gotified", "").await.remove(0);
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("gotify"), Some("failed"))
    );
    assert_eq!(e["error"], "vzdump job failed: storage 'nas' is not online");

    let no_token = post(&app, "/message", r#"{"message":"x"}"#).await;
    assert_eq!(no_token.status().as_u16(), 400);
    assert!(no_token.text().await.unwrap().contains("token"));
    app.stop().await;
}

#[tokio::test]
async fn gotifys_token_is_checked_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Gotified"})).await;
    // A wrong token with a body over the limit: refused for the token (404), not after
    // reading a megabyte (413).
    let wrong = app
        .client
        .post(format!(
            "{}/message?token=zzzzzzzzzzzzzzzzzzzzzz",
            app.webhook_base
        ))
        .body("x".repeat(1024 * 1024 + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 404);
    let no_token = post(&app, "/gotify/message", "x".repeat(1024 * 1024 + 1)).await;
    assert_eq!(no_token.status().as_u16(), 400);
    assert!(no_token.text().await.unwrap().contains("token"));
    app.stop().await;
}

#[tokio::test]
async fn pings_say_start_and_fail_in_the_query_where_the_url_is_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Cron"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    for event in ["start", "fail"] {
        let answer = app
            .client
            .get(format!("{}/ping/{id}?event={event}", app.webhook_base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{event}");
    }
    let events = app.events("cron", "").await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0]["kind"].as_str(), events[0]["status"].as_str()),
        (Some("run"), Some("failed"))
    );
    assert!(events[0]["duration_ms"].is_i64(), "paired with its start");
    let bad = app
        .client
        .get(format!("{}/ping/{id}?event=finish", app.webhook_base))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    app.stop().await;
}

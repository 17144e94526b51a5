//! No legitimate report is refused; abuse is throttled where it comes from.

use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};

use crate::helpers::*;

/// A Kopia text report of one successful snapshot, started `second` seconds into 2026:
/// every report is a different run (Kopia's dedup key is host, path and start).
fn kopia_report(second: u32) -> String {
    format!(
        "Path: /data/{second}\n\n  Status:      success\n  Start:       Thu, 01 Jan 2026 {:02}:{:02}:{:02} +0000\n  Duration:    1.1s\n  Size:        456 B\n  Files:       12\n  Directories: 3\n",
        second / 3600 % 24,
        second / 60 % 60,
        second % 60
    )
}

async fn post_kopia_report(app: &TestApp, monitor: &Value, second: u32) -> u16 {
    app.client
        .post(app.webhook_path(monitor))
        .header("Subject", "Successfully created a snapshot of /data on nas")
        .body(kopia_report(second))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn stored_events(app: &TestApp, key: &str) -> usize {
    let mut count = 0;
    let mut before = String::new();
    loop {
        let page = app.events(key, &format!("?limit=500{before}")).await;
        count += page.len();
        match page.last() {
            Some(last) if page.len() == 500 => before = format!("&before={}", last["id"]),
            _ => return count,
        }
    }
}

#[tokio::test]
async fn a_thousand_reports_in_ten_seconds_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Kopia Server"})).await;
    let statuses: Vec<u16> = stream::iter(0..1000)
        .map(|i| post_kopia_report(&app, &monitor, i))
        .buffer_unordered(32)
        .collect()
        .await;
    let refused = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(
        refused,
        0,
        "refused: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 200)
            .take(3)
            .collect::<Vec<_>>()
    );
    assert_eq!(stored_events(&app, "server").await, 1000);
    app.stop().await;
}

#[tokio::test]
async fn the_same_kopia_report_twice_is_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Twice"})).await;
    assert_eq!(post_kopia_report(&app, &monitor, 7).await, 200);
    assert_eq!(post_kopia_report(&app, &monitor, 7).await, 200);
    assert_eq!(stored_events(&app, "twice").await, 1);
    let events = app.events("twice", "").await;
    assert_eq!(
        events[0]["host"], "nas",
        "the host of Kopia's Subject is kept"
    );
    app.stop().await;
}

#[tokio::test]
async fn over_the_ceiling_a_monitor_gets_429_and_the_others_are_not_slowed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(
        dir.path(),
        None,
        &[
            ("KOPIA_WEBHOOK_RATE_BURST", "30"),
            ("KOPIA_WEBHOOK_RATE_PER_SEC", "1"),
        ],
    )
    .await;
    let noisy = app.create_monitor(json!({"name": "Noisy"})).await;
    let quiet = app.create_monitor(json!({"name": "Quiet"})).await;
    let mut limited = None;
    for i in 0..40 {
        let response = app
            .post_webhook(&noisy, format!(r#"{{"status":"success","id":"{i}"}}"#))
            .await;
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a burst of 40 is over a ceiling of 30");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let other = app.post_webhook(&quiet, r#"{"status":"success"}"#).await;
    assert_eq!(other.status().as_u16(), 200);
    let refused: Vec<Value> = app.get_json("/api/monitors/noisy/rejections").await;
    assert_eq!(refused[0]["status"], 429);
    app.stop().await;
}

#[tokio::test]
async fn wrong_signatures_run_out_but_the_real_sender_still_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let secret = "the-real-senders-secret";
    let monitor = app
        .create_monitor(json!({"name": "Signed", "secret": secret}))
        .await;
    let send = |token: &'static str| {
        app.client
            .post(app.webhook_path(&monitor))
            .header("Authorization", format!("Bearer {token}"))
            .body(r#"{"status":"success"}"#)
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(send("guessing-the-secret").await.unwrap().status().as_u16());
    }
    assert_eq!(statuses[0], 401);
    assert!(
        statuses.contains(&429),
        "a peer that keeps failing is throttled: {statuses:?}"
    );
    let refused: Vec<Value> = app.get_json("/api/monitors/signed/rejections").await;
    assert_eq!(
        refused.len(),
        1,
        "one row, not one per refused request: {refused:?}"
    );

    let real = send(secret).await.unwrap();
    assert_eq!(
        real.status().as_u16(),
        200,
        "authentication comes before throttling"
    );
    app.stop().await;
}

/// Thirty guesses at `path` + a new ID each: the first is told "not found", the last
/// runs out of attempts.
async fn guesses_run_out(path: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = app
            .client
            .post(format!("{}{path}guessing-an-id-{i:04}", app.webhook_base))
            .body("{}")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[0], 404, "{path}");
    assert_eq!(*statuses.last().unwrap(), 429, "{path}: {statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_peer_guessing_webhook_ids_is_throttled() {
    guesses_run_out("/api/webhook/").await;
}

/// The wrong-URL help names the monitor whose ID a path holds: each such answer is a guess.
#[tokio::test]
async fn guessing_through_the_wrong_url_help_is_throttled_too() {
    guesses_run_out("/api/webhooks/").await;
}

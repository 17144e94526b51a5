//! Failures no tool reports: backups that shrink, jobs that stop, failing streaks, and
//! the notification and learned schedule that make them visible without configuration.

use jiff::{SignedDuration, Timestamp};
use kopia_webhook::domain::{BackupEvent, EventKind, RunStatus, SenderKind};
use kopia_webhook::store::Store;
use serde_json::{Value, json};

use crate::helpers::*;

/// Kopia's one-snapshot text report (its own template, as rendered upstream) for a run
/// that started on `day` November 2026 and backed up `size` and `files`.
fn kopia_report(day: u32, size: &str, files: u64) -> (String, String) {
    let (headers, body) = kopia_message("snapshot-report.txt.success.expected");
    let subject = headers.into_iter().find(|(k, _)| k == "Subject").unwrap().1;
    let body = body
        .replace(
            "Thu, 02 Jan 2020 03:04:05 +0000",
            &jiff::civil::date(2026, 11, day as i8)
                .at(3, 4, 5, 0)
                .strftime("%a, %d %b %Y %H:%M:%S +0000")
                .to_string(),
        )
        .replace("456 B (+56 B)", size)
        .replace("123 (+23)", &files.to_string());
    // Without the failed entries, which make a run a warning by themselves.
    let body = match body.split_once("  Failed Entries:") {
        Some((before, after)) => {
            let rest = after.split_once("Generated at").unwrap().1;
            format!("{before}Generated at{rest}")
        }
        None => body,
    };
    (subject, body)
}

async fn post_kopia_report(app: &TestApp, monitor: &Value, day: u32, size: &str, files: u64) {
    let (subject, body) = kopia_report(day, size, files);
    let response = app
        .client
        .post(app.webhook_path(monitor))
        .header("Subject", subject)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// The `kopia_webhook_event` events Core received, as data objects.
async fn core_events(core: &wiremock::MockServer) -> Vec<Value> {
    requests_to(core, "POST", "/api/events/kopia_webhook_event")
        .await
        .into_iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_backup_that_shrinks_is_a_warning_that_says_by_how_much_until_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Photos"})).await;
    for (day, size) in [
        (1, "1.4 GB"),
        (2, "1.5 GB"),
        (3, "1.6 GB"),
        (4, "1.5 GB"),
        (5, "1.5 GB"),
    ] {
        post_kopia_report(&app, &monitor, day, size, 10_000).await;
    }
    wait_for_state(&core, "sensor.kopia_photos", |s| s["state"] == "success").await;

    // The disk was not mounted: Kopia says "success" about a nearly empty folder.
    post_kopia_report(&app, &monitor, 6, "102 MB", 9_000).await;
    let (_, state) =
        wait_for_state(&core, "sensor.kopia_photos", |s| s["state"] == "warning").await;
    assert_eq!(
        state["attributes"]["error"],
        "/some/path: size dropped 94 %: 1.50 GB → 102.0 MB (usually 1.40 GB–1.60 GB)"
    );
    wait_for_state(&core, "binary_sensor.kopia_photos_problem", |s| {
        s["state"] == "on"
    })
    .await;
    let events = app.events("photos", "").await;
    assert_eq!(events[0]["status"], "warning");
    eventually(10, "the Core event names the shrink", || async {
        core_events(&core).await.iter().any(|e| {
            e["status"] == "warning"
                && e["error"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("size dropped 94 %"))
        })
    })
    .await;
    let page = app.get_ui("/monitors/photos").await.text().await.unwrap();
    assert!(page.contains("size dropped 94 %"), "the panel says why");
    // The size sensor keeps the last good backup's size, not the shrunk one.
    let (_, size) = wait_for_state(&core, "sensor.kopia_photos_size", |_| true).await;
    assert_eq!(size["state"], "1500000000");

    // The disk is back.
    post_kopia_report(&app, &monitor, 7, "1.5 GB", 10_000).await;
    wait_for_state(&core, "sensor.kopia_photos", |s| s["state"] == "success").await;
    wait_for_state(&core, "binary_sensor.kopia_photos_problem", |s| {
        s["state"] == "off"
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_slow_drift_is_never_a_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Mail"})).await;
    // 8 % smaller every night for two weeks: a third of the size in the end, never a cliff.
    let mut size = 2_000_000_000.0f64;
    for day in 1..=14 {
        post_kopia_report(&app, &monitor, day, &format!("{} B", size as u64), 5_000).await;
        size *= 0.92;
    }
    let events = app.events("mail", "").await;
    assert_eq!(events.len(), 14);
    assert!(
        events.iter().all(|e| e["status"] == "success"),
        "{events:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn zero_files_where_there_were_many_is_a_warning_in_duplicati_too() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "NAS"})).await;
    let report =
        std::fs::read_to_string(format!("{FIXTURES}/duplicati/backup-success.json")).unwrap();
    let run = |day: u32, files: u64, bytes: u64| {
        report
            .replace(
                "2025-03-10T02:00:00.1234567Z",
                &format!("2025-03-{day:02}T02:00:00.1234567Z"),
            )
            .replace(
                "\"ExaminedFiles\": 1520",
                &format!("\"ExaminedFiles\": {files}"),
            )
            .replace(
                "\"SizeOfExaminedFiles\": 4832198656",
                &format!("\"SizeOfExaminedFiles\": {bytes}"),
            )
    };
    for day in 1..=5 {
        let response = app
            .post_webhook(&monitor, run(day, 1520, 4_832_198_656))
            .await;
        assert_eq!(response.status().as_u16(), 200);
    }
    app.post_webhook(&monitor, run(6, 0, 4_832_198_656)).await;
    let status: Value = app.get_json("/api/monitors/nas").await;
    assert_eq!(status["status"], "warning");
    assert_eq!(
        status["error"], "Photos: no files backed up (usually 1,520)",
        "{status:#}"
    );
    // Turned off, the same run is fine.
    let off = app
        .client
        .patch(format!("{}/api/monitors/nas", app.ui_base))
        .json(&json!({"shrink_percent": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status().as_u16(), 200);
    app.post_webhook(&monitor, run(7, 0, 4_832_198_656)).await;
    let status: Value = app.get_json("/api/monitors/nas").await;
    assert_eq!(status["status"], "success");
    app.stop().await;
}

/// Runs stored as if received at `times`, into the app's database while it is stopped.
async fn seed_runs(data_dir: &std::path::Path, monitor_id: i64, runs: &[(Timestamp, RunStatus)]) {
    let store = Store::open(&data_dir.join("kopia_webhook.db")).unwrap();
    for (at, status) in runs {
        let event = BackupEvent::new(SenderKind::named("generic"), EventKind::Run, *status)
            .with_source("/home")
            .with_times(Some(*at - SignedDuration::from_mins(20)), Some(*at));
        store
            .insert_events(monitor_id, *at, vec![event])
            .await
            .unwrap();
    }
}

/// 03:20 UTC `days_ago` nights before the last one that has passed.
fn nightly(days_ago: i64) -> Timestamp {
    let now = Timestamp::now();
    let mut last = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .at(3, 20, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    if last > now {
        last -= SignedDuration::from_hours(24);
    }
    last - SignedDuration::from_hours(24 * days_ago)
}

#[tokio::test]
async fn a_job_that_stopped_is_a_problem_and_its_rhythm_becomes_a_schedule_with_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KOPIA_WEBHOOK_TIMEZONE", "UTC")];
    let app = spawn_app_with(dir.path(), None, &env).await;
    app.create_monitor(json!({"name": "Server"})).await;
    app.stop().await;
    // Ten nights at 03:00 (reports at 03:20), then nothing for the last three days.
    let runs: Vec<_> = (3..13)
        .rev()
        .map(|d| (nightly(d), RunStatus::Success))
        .collect();
    seed_runs(dir.path(), 1, &runs).await;

    let core = fake_core().await;
    let app = spawn_app_with(dir.path(), Some(&core), &env).await;
    let monitor: Value = app.get_json("/api/monitors/server").await;
    assert_eq!(monitor["schedule"], Value::Null);
    assert_eq!(
        monitor["learned_schedule"]["text"],
        "daily around 03:00, grace 1h"
    );
    // Nobody configured anything: two nightly slots missed plus grace is a problem (from
    // the last success at 03:20 to the second 03:00 after it, and an hour: 2d 40m, said
    // rounded to the hour).
    assert_eq!(monitor["status"], "overdue", "{monitor:#}");
    let (_, state) =
        wait_for_state(&core, "sensor.kopia_server", |s| s["state"] == "overdue").await;
    let error = state["attributes"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("no successful run for 3d") && error.ends_with("(alert after 2d 1h)"),
        "{error}"
    );
    let page = app.get_ui("/monitors/server").await.text().await.unwrap();
    assert!(page.contains("Suggested schedule"), "{page}");
    assert!(page.contains("daily around 03:00, grace 1h"));

    let applied = app
        .client
        .post(format!(
            "{}/api/monitors/server/learned-schedule",
            app.ui_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status().as_u16(), 200);
    let monitor: Value = applied.json().await.unwrap();
    assert_eq!(
        monitor["schedule"],
        json!({"cron": "0 3 * * *", "tz": "UTC"})
    );
    assert_eq!(monitor["grace"], 3600);
    assert_eq!(
        monitor["learned_schedule"],
        Value::Null,
        "a real schedule now"
    );
    assert_eq!(monitor["status"], "overdue");
    let again = app
        .client
        .post(format!(
            "{}/api/monitors/server/learned-schedule",
            app.ui_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409, "it has a schedule now");
    app.stop().await;
}

#[tokio::test]
async fn an_irregular_history_gets_no_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Laptop"})).await;
    app.stop().await;
    let hours = [200, 151, 150, 80, 77, 30, 29, 5, 1];
    let runs: Vec<_> = hours
        .iter()
        .map(|h| {
            (
                Timestamp::now() - SignedDuration::from_hours(*h),
                RunStatus::Success,
            )
        })
        .collect();
    seed_runs(dir.path(), 1, &runs).await;
    let app = spawn_app(dir.path(), None).await;
    let monitor: Value = app.get_json("/api/monitors/laptop").await;
    assert_eq!(monitor["learned_schedule"], Value::Null);
    assert_eq!(monitor["status"], "success");
    let refused = app
        .client
        .post(format!(
            "{}/api/monitors/laptop/learned-schedule",
            app.ui_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 409);
    let why = refused.text().await.unwrap();
    assert!(why.contains("no regular rhythm"), "{why}");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_streak_says_how_long_there_has_been_no_success() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Db", "no_success_after": "2d"}))
        .await;
    app.stop().await;
    let mut runs = vec![(nightly(4), RunStatus::Success)];
    runs.extend((0..4).rev().map(|d| {
        (
            nightly(d) - SignedDuration::from_hours(1),
            RunStatus::Failed,
        )
    }));
    seed_runs(dir.path(), 1, &runs).await;
    let app = spawn_app(dir.path(), None).await;
    let monitor: Value = app.get_json("/api/monitors/db").await;
    assert_eq!(monitor["status"], "failed");
    assert_eq!(monitor["no_success_after"], "2d");
    let error = monitor["error"].as_str().unwrap();
    assert!(
        error.starts_with("/home: failed without a reason given; no successful run for 4d")
            && error.ends_with("(alert after 2d)"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_problem_is_a_persistent_notification_until_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app_with(
        dir.path(),
        Some(&core),
        &[("KOPIA_WEBHOOK_PROBLEM_NOTIFICATIONS", "true")],
    )
    .await;
    let monitor = app.create_monitor(json!({"name": "Vault"})).await;
    app.post_webhook(
        &monitor,
        r#"{"status":"failed","source":"/srv","error":"disk full"}"#,
    )
    .await;
    let create = "/api/services/persistent_notification/create";
    eventually(10, "the notification is created", || async {
        !requests_to(&core, "POST", create).await.is_empty()
    })
    .await;
    let sent: Value =
        serde_json::from_slice(&requests_to(&core, "POST", create).await[0].body).unwrap();
    assert_eq!(sent["notification_id"], "kopia_webhook_vault");
    assert_eq!(sent["title"], "Backup problem: Vault");
    let message = sent["message"].as_str().unwrap();
    assert!(
        message.contains("**Vault** is failed: /srv: disk full."),
        "{message}"
    );

    // Another failure of the same kind does not notify again.
    app.post_webhook(
        &monitor,
        r#"{"status":"failed","source":"/srv","error":"still full"}"#,
    )
    .await;
    wait_for_state(&core, "sensor.kopia_vault", |s| {
        s["attributes"]["error"] == "/srv: still full"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(requests_to(&core, "POST", create).await.len(), 1);

    app.post_webhook(&monitor, r#"{"status":"success","source":"/srv"}"#)
        .await;
    let dismiss = "/api/services/persistent_notification/dismiss";
    eventually(10, "the notification is dismissed", || async {
        !requests_to(&core, "POST", dismiss).await.is_empty()
    })
    .await;
    let sent: Value =
        serde_json::from_slice(&requests_to(&core, "POST", dismiss).await[0].body).unwrap();
    assert_eq!(sent, json!({"notification_id": "kopia_webhook_vault"}));
    app.stop().await;
}

#[tokio::test]
async fn without_the_option_nothing_is_notified() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Quiet"})).await;
    app.post_webhook(&monitor, r#"{"status":"failed"}"#).await;
    wait_for_state(&core, "sensor.kopia_quiet", |s| s["state"] == "failed").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        requests_to(
            &core,
            "POST",
            "/api/services/persistent_notification/create"
        )
        .await
        .is_empty()
    );
    app.stop().await;
}

/// A successful run five times longer than usual is a warning that says so; turned off per
/// monitor, the same run is a success.
#[tokio::test]
async fn a_run_far_longer_than_usual_is_a_warning_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Timed"})).await;
    for _ in 0..4 {
        app.post_webhook(
            &monitor,
            r#"{"status":"success","source":"db","duration_s":1200}"#,
        )
        .await;
    }
    app.post_webhook(
        &monitor,
        r#"{"status":"success","source":"db","duration_s":6000}"#,
    )
    .await;
    let api: Value = app.get_json("/api/monitors/timed").await;
    assert_eq!(api["status"], "warning", "{api}");
    assert_eq!(
        api["error"],
        "db: took 1 h 40 min, far longer than usual (20 min 0 s)"
    );
    assert_eq!(api["usual_duration_s"], 1200.0);
    assert_eq!(api["unusual_durations"], true);

    let off = app
        .client
        .patch(format!("{}/api/monitors/timed", app.ui_base))
        .json(&json!({"unusual_durations": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status().as_u16(), 200);
    app.post_webhook(
        &monitor,
        r#"{"status":"success","source":"db","duration_s":9000}"#,
    )
    .await;
    let api: Value = app.get_json("/api/monitors/timed").await;
    assert_eq!(api["status"], "success", "{api}");
    app.stop().await;
}

/// Paused: a failing monitor shows `paused` in Home Assistant and is no problem; resumed,
/// the failure shows again. A maintenance window is set like any other field.
#[tokio::test]
async fn a_paused_monitor_shows_paused_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Maint"})).await;
    app.post_webhook(
        &monitor,
        r#"{"status":"failed","source":"db","error":"disk full"}"#,
    )
    .await;
    wait_for_state(&core, "binary_sensor.kopia_maint_problem", |s| {
        s["state"] == "on"
    })
    .await;

    let paused: Value = app
        .client
        .post(format!("{}/api/monitors/maint/pause", app.ui_base))
        .json(&json!({"for": "2h"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paused["status"], "paused", "{paused}");
    let until: Timestamp = paused["paused_until"].as_str().unwrap().parse().unwrap();
    let left = until.duration_since(Timestamp::now());
    assert!(left > SignedDuration::from_mins(119) && left <= SignedDuration::from_hours(2));
    let (_, state) = wait_for_state(&core, "sensor.kopia_maint", |s| s["state"] == "paused").await;
    assert!(state["attributes"]["paused_until"].is_string());
    wait_for_state(&core, "binary_sensor.kopia_maint_problem", |s| {
        s["state"] == "off"
    })
    .await;

    let refused = app
        .client
        .post(format!("{}/api/monitors/maint/pause", app.ui_base))
        .json(&json!({"until": "yesterday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().await.unwrap().contains("RFC 3339"));

    let resumed: Value = app
        .client
        .post(format!("{}/api/monitors/maint/resume", app.ui_base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["status"], "failed");
    wait_for_state(&core, "binary_sensor.kopia_maint_problem", |s| {
        s["state"] == "on"
    })
    .await;

    let window = app
        .client
        .patch(format!("{}/api/monitors/maint", app.ui_base))
        .json(&json!({"maintenance": {"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for": "3h"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(window.status().as_u16(), 200);
    let api: Value = app.get_json("/api/monitors/maint").await;
    assert_eq!(
        api["maintenance"],
        json!({"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for": "3h"})
    );
    app.stop().await;
}

/// Checks of the backups are their own clock: `kind: check` (and a Proxmox Backup Server
/// verify job) sets "last verified" and its entity; a failed check is a failure; with
/// `not_verified_after`, going without a passing check is a problem.
#[tokio::test]
async fn checks_keep_their_own_clock() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Repo"})).await;
    app.post_webhook(&monitor, r#"{"status":"success","source":"/home"}"#)
        .await;
    let before: Value = app.get_json("/api/monitors/repo").await;
    assert!(before["last_verified"].is_null());
    assert!(
        !before["entities"]
            .as_array()
            .unwrap()
            .contains(&json!("sensor.kopia_repo_last_verified")),
        "no check yet: no last-verified entity"
    );

    app.post_webhook(
        &monitor,
        r#"{"kind":"check","status":"success","source":"repo"}"#,
    )
    .await;
    let (_, verified) = wait_for_state(&core, "sensor.kopia_repo_last_verified", |s| {
        s["state"] != "unknown"
    })
    .await;
    assert_eq!(verified["attributes"]["device_class"], "timestamp");
    let api: Value = app.get_json("/api/monitors/repo").await;
    assert_eq!(api["status"], "success");
    let passed = api["last_verified"].clone();
    assert!(passed.is_string());

    // Proxmox Backup Server's verify job fails: the monitor fails, saying why.
    let pbs = app
        .client
        .post(app.webhook_path(&monitor))
        .header("Content-Type", "application/json")
        .body(std::fs::read("tests/fixtures/proxmox/verify-failed.json").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(pbs.status().as_u16(), 200);
    let api: Value = app.get_json("/api/monitors/repo").await;
    assert_eq!(api["status"], "failed", "{api}");
    assert_eq!(api["error"], "Verify Datastore 'store1' Failed");
    let events = app.events("repo", "").await;
    assert_eq!(events[0]["kind"], "check");
    assert_eq!(
        api["last_verified"], passed,
        "a failed check is no verification"
    );

    // A passing check again, then an alert after a second without one.
    app.post_webhook(
        &monitor,
        r#"{"kind":"check","status":"success","source":"repo"}"#,
    )
    .await;
    let set = app
        .client
        .patch(format!("{}/api/monitors/repo", app.ui_base))
        .json(&json!({"not_verified_after": "1s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 200);
    let (_, late) = wait_for_state(&core, "sensor.kopia_repo", |s| s["state"] == "overdue").await;
    assert!(
        late["attributes"]["error"]
            .as_str()
            .unwrap()
            .starts_with("not verified since"),
        "{late}"
    );
    app.stop().await;
}

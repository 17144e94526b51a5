//! What Home Assistant receives, and that it always ends up showing the truth: outages,
//! restarts that forget every state, slow answers, schedules that expire.

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    eventually, fake_core, mount_accept_all, requests_to, spawn_app, spawn_app_with,
    states_received, wait_for_state, wait_for_state_within,
};

#[tokio::test]
async fn every_entity_of_a_monitor_reaches_core() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "NAS"})).await;

    app.post_kopia(&monitor, "snapshot-report.txt.success.expected")
        .await;

    let (_, main) = wait_for_state(&core, "sensor.kopia_nas", |s| s["state"] == "success").await;
    assert!(main["attributes"]["sources"].is_array());
    let (_, last) = wait_for_state(&core, "sensor.kopia_nas_last_success", |s| {
        s["state"] != "unknown"
    })
    .await;
    assert_eq!(last["state"], "2020-01-02T03:04:06.100+00:00");
    assert_eq!(last["attributes"]["device_class"], "timestamp");
    let (_, size) = wait_for_state(&core, "sensor.kopia_nas_size", |s| s["state"] == "456").await;
    assert_eq!(size["attributes"]["unit_of_measurement"], "B");
    assert_eq!(size["attributes"]["device_class"], "data_size");
    let (_, duration) =
        wait_for_state(&core, "sensor.kopia_nas_duration", |s| s["state"] == "1.1").await;
    assert_eq!(duration["attributes"]["unit_of_measurement"], "s");
    let (_, problem) = wait_for_state(&core, "binary_sensor.kopia_nas_problem", |s| {
        s["state"] == "off"
    })
    .await;
    assert_eq!(problem["attributes"]["device_class"], "problem");
    app.stop().await;
}

/// With a websocket (any `http://` Core), events go over it, the batch in one write; the
/// REST fallback is what the tests with a REST-only fake Core see.
#[tokio::test]
async fn core_events_travel_over_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let core = crate::ws_core::WsCore::start().await;
    let app = spawn_app_with(
        dir.path(),
        None,
        &[
            ("KOPIA_WEBHOOK_CORE_URL", &core.url),
            ("KOPIA_WEBHOOK_CORE_TOKEN", "socket-token"),
        ],
    )
    .await;
    let monitor = app.create_monitor(json!({"name": "Socket"})).await;
    app.post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;
    eventually(10, "four events over the websocket", || async {
        core.socket_events.lock().unwrap().len() == 4
    })
    .await;
    let events = core.socket_events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .all(|d| d["monitor"] == "socket" && d["entity_id"] == "sensor.kopia_socket"),
        "{events:?}"
    );
    assert_eq!(events.iter().filter(|d| d["status"] == "failed").count(), 1);
    assert_eq!(core.fired(), 4, "none went over REST as well");

    // Idle for longer than Core's and the Supervisor's heartbeats allow: the next batch opens
    // a new connection instead of failing on a closed one (and falling back to REST).
    tokio::time::sleep(std::time::Duration::from_secs(21)).await;
    let ping = format!(
        "{}/ping/{}",
        app.webhook_base,
        monitor["webhook_id"].as_str().unwrap()
    );
    assert!(reqwest::get(ping).await.unwrap().status().is_success());
    eventually(10, "the ping's event over the websocket", || async {
        core.socket_events.lock().unwrap().len() == 5
    })
    .await;
    assert_eq!(core.fired(), 5, "none went over REST after the idle time");
    assert_eq!(
        core.tokens.lock().unwrap().len(),
        4,
        "the watcher's connection, the backups' (this Core has none) and two for events"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_core_event_is_fired_for_every_received_event() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Events"})).await;

    app.post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;

    let fired = || async { requests_to(&core, "POST", "/api/events/kopia_webhook_event").await };
    eventually(10, "four kopia_webhook_event", || async {
        fired().await.len() == 4
    })
    .await;
    let data: Vec<Value> = fired()
        .await
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(
        data.iter()
            .all(|d| d["monitor"] == "events" && d["entity_id"] == "sensor.kopia_events")
    );
    let failed: Vec<_> = data.iter().filter(|d| d["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["source"], "/some/other/path");
    assert!(
        !serde_json::to_string(&data)
            .unwrap()
            .contains(monitor["webhook_id"].as_str().unwrap())
    );
    app.stop().await;
}

#[tokio::test]
async fn during_an_outage_webhooks_are_still_answered_and_core_converges_to_the_latest_state() {
    let dir = tempfile::tempdir().unwrap();
    let core = MockServer::start().await;
    // Core is restarting: the first requests get 503, as the Supervisor's proxy answers.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&core)
        .await;
    mount_accept_all(&core).await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Outage"})).await;

    let first = app
        .post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;
    let second = app
        .post_kopia(&monitor, "snapshot-report.txt.success.expected")
        .await;

    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(second.status().as_u16(), 200);
    assert_eq!(
        app.events("outage", "").await.len(),
        5,
        "nothing acknowledged is lost"
    );
    // /some/path succeeded last, but /some/other/path's latest run is still the failed one.
    let (_, state) = wait_for_state_within(&core, "sensor.kopia_outage", 30, |s| {
        s["state"] == "failed"
            && s["attributes"]["history"]
                .as_array()
                .is_some_and(|h| h.len() == 5)
    })
    .await;
    assert_eq!(state["attributes"]["history"][0]["source"], "/some/path");
    eventually(30, "the Core events of all five runs", || async {
        requests_to(&core, "POST", "/api/events/kopia_webhook_event")
            .await
            .len()
            == 5
    })
    .await;
    let monitor: Value = app.get_json("/api/monitors/outage").await;
    assert_eq!(monitor["push"]["pending"], false);
    assert!(monitor["push"]["last_success_at"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn a_core_restart_is_noticed_and_every_entity_is_pushed_again_without_a_new_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let has_states = Mock::given(method("GET"))
        .and(path_regex(r"^/api/states/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "success"})))
        .named("Core has the states")
        .mount_as_scoped(&core)
        .await;
    let app = spawn_app_with(
        dir.path(),
        Some(&core),
        &[("KOPIA_WEBHOOK_RECONCILE_SECS", "1")],
    )
    .await;
    let monitor = app.create_monitor(json!({"name": "Restart"})).await;
    app.post_kopia(&monitor, "snapshot-report.txt.success.expected")
        .await;
    wait_for_state(&core, "binary_sensor.kopia_restart_problem", |s| {
        s["state"] == "off"
    })
    .await;

    // Core restarts: it forgets every API-set state (GET answers 404 from now on).
    drop(has_states);
    core.reset().await;
    mount_accept_all(&core).await;

    for entity in [
        "sensor.kopia_restart",
        "sensor.kopia_restart_last_success",
        "sensor.kopia_restart_size",
        "sensor.kopia_restart_duration",
        "binary_sensor.kopia_restart_problem",
    ] {
        wait_for_state_within(&core, entity, 15, |_| true).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_slow_core_does_not_hold_up_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let core = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(std::time::Duration::from_millis(700)))
        .mount(&core)
        .await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app.create_monitor(json!({"name": "Slow"})).await;

    for fixture in [
        "snapshot-report.txt.default.expected",
        "snapshot-report.txt.success.expected",
        "test-notification.txt",
    ] {
        assert_eq!(
            app.post_kopia(&monitor, fixture).await.status().as_u16(),
            200
        );
    }

    assert_eq!(app.events("slow", "").await.len(), 6);
    wait_for_state_within(&core, "sensor.kopia_slow", 30, |s| {
        s["attributes"]["history"]
            .as_array()
            .is_some_and(|h| h.len() == 5)
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_missed_run_turns_the_monitor_overdue_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app
        .create_monitor(json!({"name": "Hourly", "schedule": {"every": "1s"}, "grace": "1s"}))
        .await;
    assert_eq!(monitor["schedule"], json!({"every": "1s"}));
    assert_eq!(monitor["grace"], 1);
    let body = r#"{"status":"success","source":"db"}"#;
    app.post_webhook(&monitor, body).await;

    wait_for_state(&core, "sensor.kopia_hourly", |s| s["state"] == "success").await;
    // No further webhook: two seconds later the run is overdue.
    let (_, overdue) =
        wait_for_state(&core, "sensor.kopia_hourly", |s| s["state"] == "overdue").await;
    assert!(overdue["attributes"]["next_expected"].is_string());
    wait_for_state(&core, "binary_sensor.kopia_hourly_problem", |s| {
        s["state"] == "on"
    })
    .await;
    let api: Value = app.get_json("/api/monitors/hourly").await;
    assert_eq!(api["status"], "overdue");

    // The next run clears it.
    app.post_webhook(&monitor, body).await;
    wait_for_state(&core, "binary_sensor.kopia_hourly_problem", |s| {
        s["state"] == "off"
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_start_shows_running_until_the_run_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    let monitor = app
        .create_monitor(json!({"name": "Job", "grace": "1h"}))
        .await;
    let post = |body: &'static str| {
        app.client
            .post(app.webhook_path(&monitor))
            .body(body)
            .send()
    };

    post(r#"{"kind":"start","source":"db"}"#).await.unwrap();
    wait_for_state(&core, "sensor.kopia_job", |s| s["state"] == "running").await;
    post(r#"{"status":"failed","source":"db","error":"disk full"}"#)
        .await
        .unwrap();

    let (_, state) = wait_for_state(&core, "sensor.kopia_job", |s| s["state"] == "failed").await;
    assert_eq!(state["attributes"]["error"], "db: disk full");
    app.stop().await;
}

#[tokio::test]
async fn editing_a_monitor_updates_its_entities_and_deleting_it_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    app.create_monitor(json!({"name": "Old name"})).await;
    wait_for_state(&core, "sensor.kopia_old_name", |_| true).await;

    let patched = app
        .client
        .patch(format!("{}/api/monitors/old_name", app.ui_base))
        .json(&json!({"name": "New name", "schedule": "0 3 * * *", "grace": "2h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status().as_u16(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        patched["key"], "old_name",
        "entity IDs stay stable across renames"
    );
    assert_eq!(
        patched["schedule"],
        json!({"cron": "0 3 * * *", "tz": "UTC"})
    );
    assert_eq!(patched["grace"], 7200);
    wait_for_state(&core, "sensor.kopia_old_name", |s| {
        s["attributes"]["friendly_name"] == "New name"
    })
    .await;

    let deleted = app
        .client
        .delete(format!("{}/api/monitors/old_name", app.ui_base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    eventually(10, "all five entities removed from Core", || async {
        let mut removed = 0;
        for entity in [
            "sensor.kopia_old_name",
            "sensor.kopia_old_name_last_success",
            "sensor.kopia_old_name_size",
            "sensor.kopia_old_name_duration",
            "binary_sensor.kopia_old_name_problem",
        ] {
            removed += requests_to(&core, "DELETE", &format!("/api/states/{entity}"))
                .await
                .len()
                .min(1);
        }
        removed == 5
    })
    .await;
    assert_eq!(
        app.get_ui("/api/monitors/old_name").await.status().as_u16(),
        404
    );
    let posts_before = states_received(&core, "sensor.kopia_old_name").await.len();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        states_received(&core, "sensor.kopia_old_name").await.len(),
        posts_before
    );
    app.stop().await;
}

#[tokio::test]
async fn monitors_from_the_add_on_options_are_created_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("options.json"),
        r#"{"log_level":"info","history_limit":10,"retention_days":365,
            "monitors":[{"name":"From options","webhook_id":"declared-webhook-id-0001","schedule":"1d"}]}"#,
    )
    .unwrap();
    let app = spawn_app(dir.path(), None).await;

    let monitor: Value = app.get_json("/api/monitors/from_options").await;
    assert_eq!(monitor["origin"], "options");
    assert_eq!(monitor["schedule"], json!({"every": "1d"}));
    let patch = app
        .client
        .patch(format!("{}/api/monitors/from_options", app.ui_base))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status().as_u16(), 409);
    let delete = app
        .client
        .delete(format!("{}/api/monitors/from_options", app.ui_base))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status().as_u16(), 409);
    let webhook = app
        .client
        .post(format!(
            "{}/api/webhook/declared-webhook-id-0001",
            app.webhook_base
        ))
        .body(r#"{"status":"success"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_declared_monitor_takes_a_maintenance_window_and_a_check_period_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let options = |extra: &str| {
        format!(
            r#"{{"timezone":"Europe/Berlin","monitors":[{{"name":"Declared","webhook_id":"declared-webhook-id-0002"{extra}}}]}}"#
        )
    };
    std::fs::write(
        dir.path().join("options.json"),
        options(r#","maintenance":"0 2 * * 6","maintenance_for":"3h","not_verified_after":"7d""#),
    )
    .unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor: Value = app.get_json("/api/monitors/declared").await;
    assert_eq!(
        monitor["maintenance"],
        json!({"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for": "3h"})
    );
    assert_eq!(monitor["not_verified_after"], "7d");
    app.stop().await;

    // Taken out of the options: gone at the next start, as any other declared setting.
    std::fs::write(dir.path().join("options.json"), options("")).unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor: Value = app.get_json("/api/monitors/declared").await;
    assert_eq!(monitor["maintenance"], Value::Null);
    assert_eq!(monitor["not_verified_after"], "off");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_token_is_shown_as_the_push_error() {
    let dir = tempfile::tempdir().unwrap();
    let core = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("401: Unauthorized"))
        .mount(&core)
        .await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    app.create_monitor(json!({"name": "Locked out"})).await;

    eventually(10, "the push error in the API", || async {
        let monitor: Value = app.get_json("/api/monitors/locked_out").await;
        monitor["push"]["pending"] == true
            && monitor["push"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("refused the token"))
    })
    .await;
    let page = app.get_ui("/").await.text().await.unwrap();
    assert!(
        page.contains("retrying: Home Assistant refused the token"),
        "the dashboard says why"
    );
    app.stop().await;
}

#[tokio::test]
async fn reports_during_an_outage_do_not_stretch_the_retry_delay() {
    let dir = tempfile::tempdir().unwrap();
    let core = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&core)
        .await;
    let app = spawn_app_with(
        dir.path(),
        Some(&core),
        &[("KOPIA_WEBHOOK_RECONCILE_SECS", "3600")],
    )
    .await;
    let monitor = app.create_monitor(json!({"name": "Busy"})).await;
    // Core is away while reports keep arriving (each wakes the pusher).
    for i in 0..15 {
        let response = app
            .post_webhook(&monitor, format!(r#"{{"status":"success","id":"{i}"}}"#))
            .await;
        assert_eq!(response.status().as_u16(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let attempts = core
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert!(
        attempts <= 6,
        "retries follow the backoff (1 s, 2 s, 4 s…), not every report: {attempts} attempts"
    );
    // Core is back: the next planned retry (seconds away, not minutes) delivers.
    core.reset().await;
    mount_accept_all(&core).await;
    wait_for_state_within(&core, "sensor.kopia_busy", 12, |s| s["state"] == "success").await;
    app.stop().await;
}

/// A full disk: reports are refused with 503 and Home Assistant is told by the monitor's
/// own problem sensor, though nothing can be written (not even the outbox).
#[tokio::test]
async fn a_full_disk_refuses_reports_and_says_so_in_home_assistant() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app_with(
        dir.path(),
        Some(&core),
        &[("KOPIA_WEBHOOK_DATABASE_LIMIT_MB", "1")],
    )
    .await;
    let monitor = app.create_monitor(json!({"name": "Filler"})).await;
    // Bodies no sender reads are kept whole (up to 100 kB): the database fills quickly.
    let mut refused = 0;
    for i in 0..60 {
        let answer = app
            .post_webhook(&monitor, format!("report {i} {}", "x".repeat(90_000)))
            .await;
        match answer.status().as_u16() {
            200 => {}
            503 => {
                refused += 1;
                assert!(answer.headers().contains_key("retry-after"));
                if refused == 3 {
                    break;
                }
            }
            other => panic!("answered {other}"),
        }
    }
    assert_eq!(refused, 3, "the 1 MB database filled up");
    let (_, state) = wait_for_state_within(&core, "sensor.kopia_filler", 15, |s| {
        s["state"] == "failed"
            && s["attributes"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("3 reports"))
    })
    .await;
    let error = state["attributes"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("the add-on's disk is full: 3 reports refused since"),
        "{error}"
    );
    wait_for_state_within(&core, "binary_sensor.kopia_filler_problem", 15, |s| {
        s["state"] == "on"
    })
    .await;
    let shown: Value = app.get_json("/api/monitors/filler").await;
    assert_eq!(shown["status"], "failed");
    assert!(shown["error"].as_str().unwrap().contains("disk is full"));
    app.stop().await;
}

/// The add-on's own entities: every monitor at a glance, which has a problem and why, and
/// the count when a monitor goes.
#[tokio::test]
async fn one_overview_says_whether_all_is_well_and_which_monitor_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let core = fake_core().await;
    let app = spawn_app(dir.path(), Some(&core)).await;
    wait_for_state(&core, "binary_sensor.kopia_backups_problem", |s| {
        s["state"] == "off"
    })
    .await;
    let nas = app.create_monitor(json!({"name": "NAS"})).await;
    let laptop = app.create_monitor(json!({"name": "Laptop"})).await;
    // A monitor named "Backups" does not take the overview's entity IDs.
    let named_backups = app.create_monitor(json!({"name": "Backups"})).await;
    assert_eq!(named_backups["key"], "backups_2");
    app.post_webhook(&nas, r#"{"status":"success","source":"db"}"#)
        .await;
    app.post_webhook(
        &laptop,
        r#"{"status":"failed","source":"/home","error":"disk full"}"#,
    )
    .await;

    let (_, problem) = wait_for_state(&core, "binary_sensor.kopia_backups_problem", |s| {
        s["state"] == "on"
    })
    .await;
    assert_eq!(problem["attributes"]["device_class"], "problem");
    assert_eq!(problem["attributes"]["failed"], 1);
    assert_eq!(problem["attributes"]["success"], 1);
    assert_eq!(problem["attributes"]["problem_count"], 1);
    let listed = &problem["attributes"]["problems"][0];
    assert_eq!(listed["entity_id"], "sensor.kopia_laptop");
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["reason"], "/home: disk full");
    assert_eq!(
        problem["attributes"]["summary"],
        "Laptop: failed (/home: disk full)"
    );
    let (_, count) = wait_for_state(&core, "sensor.kopia_backups", |s| s["state"] == "3").await;
    assert_eq!(count["attributes"]["unit_of_measurement"], "monitors");
    assert_eq!(count["attributes"]["unknown"], 1);

    // The failing monitor goes: all is well again.
    let deleted = app
        .client
        .delete(format!("{}/api/monitors/laptop", app.ui_base))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    wait_for_state(&core, "binary_sensor.kopia_backups_problem", |s| {
        s["state"] == "off" && s["attributes"]["success"] == 1
    })
    .await;
    wait_for_state(&core, "sensor.kopia_backups", |s| s["state"] == "2").await;
    app.stop().await;
}

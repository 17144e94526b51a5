//! Against a real Home Assistant Core (`tools/realha/start.sh`): the entities appear with the
//! right attributes, come back when Core loses them, and go when the monitor is deleted.
//! Ignored in a plain `cargo test`; `.ci/run` starts Core and runs it with `--ignored`:
//!
//!     set -a; eval "$(tools/realha/start.sh)"; set +a
//!     cargo test --test real_core -- --ignored --test-threads=1
//!
//! One test restarts that Core, so they run one at a time.

#[allow(dead_code)]
mod support {
    pub mod kopia;
    pub mod realha;
}

use std::collections::HashMap;
use std::time::Duration;

use kopia_webhook::app::{Application, Stopper};
use kopia_webhook::config::Settings;
use serde_json::{Value, json};
use support::kopia::send_kopia;
use support::realha::Core;

/// The add-on, pushing to the real Core, with the periodic check every `reconcile_secs`.
struct App {
    ui: String,
    http: reqwest::Client,
    stopper: Stopper,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _data: tempfile::TempDir,
}

impl App {
    async fn start(core: &Core, reconcile_secs: u64) -> Self {
        Self::start_with(core, reconcile_secs, &[]).await
    }

    /// [`App::start`] with more of the add-on's environment.
    async fn start_with(core: &Core, reconcile_secs: u64, extra: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut env: HashMap<&str, String> = HashMap::from([
            ("KOPIA_WEBHOOK_DATA_DIR", data.path().display().to_string()),
            ("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0".into()),
            ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0".into()),
            ("KOPIA_WEBHOOK_CORE_URL", core.url.clone()),
            ("KOPIA_WEBHOOK_CORE_TOKEN", core.token.clone()),
            ("KOPIA_WEBHOOK_RECONCILE_SECS", reconcile_secs.to_string()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let app = Application::build(Settings::load(|k| env.get(k).cloned()).unwrap())
            .await
            .unwrap();
        Self {
            ui: format!("http://127.0.0.1:{}", app.ui_port()),
            http: reqwest::Client::new(),
            stopper: app.stopper(),
            server: tokio::spawn(app.run_until_stopped()),
            _data: data,
        }
    }

    /// Creates a monitor whose name is unique to this test run (Core keeps other runs' states).
    async fn create_monitor(&self, name: &str, mut body: Value) -> Value {
        body["name"] = json!(format!("{name} {}", std::process::id()));
        self.http
            .post(format!("{}/api/monitors", self.ui))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.stopper.stop().await;
        let _ = self.server.await;
    }
}

#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn entities_reach_a_real_core_come_back_and_go() {
    let core = Core::from_env();
    let app = App::start(&core, 1).await;
    let monitor = app
        .create_monitor("Real core", json!({"schedule": "1d"}))
        .await;
    let key = monitor["key"].as_str().unwrap().to_owned();
    let name = monitor["name"].as_str().unwrap().to_owned();

    // Kopia's default report, as Kopia sends it.
    let url = monitor["webhook_url"].as_str().unwrap();
    let response = send_kopia(&app.http, url, "snapshot-report.txt.default.expected").await;
    assert_eq!(response.status().as_u16(), 200);

    let main = core
        .wait_for(&format!("sensor.kopia_{key}"), |s| s["state"] == "failed")
        .await;
    assert_eq!(main["attributes"]["friendly_name"], name.as_str());
    assert_eq!(main["attributes"]["history"].as_array().unwrap().len(), 4);
    assert!(main["attributes"]["next_expected"].is_string());
    let last_success = core
        .wait_for(&format!("sensor.kopia_{key}_last_success"), |_| true)
        .await;
    assert_eq!(last_success["state"], "2020-01-02T03:04:06.100+00:00");
    assert_eq!(last_success["attributes"]["device_class"], "timestamp");
    let size = core
        .wait_for(&format!("sensor.kopia_{key}_size"), |_| true)
        .await;
    assert_eq!(
        (
            size["state"].as_str(),
            size["attributes"]["unit_of_measurement"].as_str()
        ),
        (Some("456"), Some("B"))
    );
    let duration = core
        .wait_for(&format!("sensor.kopia_{key}_duration"), |_| true)
        .await;
    assert_eq!(duration["attributes"]["device_class"], "duration");
    let problem = core
        .wait_for(&format!("binary_sensor.kopia_{key}_problem"), |_| true)
        .await;
    assert_eq!(problem["state"], "on");
    // The add-on's overview names it.
    let overview = core
        .wait_for("binary_sensor.kopia_backups_problem", |s| {
            s["attributes"]["problems"]
                .as_array()
                .is_some_and(|p| p.iter().any(|m| m["monitor"] == key.as_str()))
        })
        .await;
    assert_eq!(overview["state"], "on");
    assert_eq!(overview["attributes"]["device_class"], "problem");
    let count = core.wait_for("sensor.kopia_backups", |_| true).await;
    assert_eq!(count["attributes"]["unit_of_measurement"], "monitors");

    // Core loses the states (as after its restart): they come back without a webhook.
    for entity in monitor["entities"].as_array().unwrap() {
        core.forget(entity.as_str().unwrap()).await;
    }
    core.wait_for(&format!("sensor.kopia_{key}"), |s| s["state"] == "failed")
        .await;
    core.wait_for(&format!("binary_sensor.kopia_{key}_problem"), |s| {
        s["state"] == "on"
    })
    .await;

    // Deleting the monitor removes its entities from Core.
    let deleted = app
        .http
        .delete(format!("{}/api/monitors/{key}", app.ui))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    for _ in 0..100 {
        if core.state(&format!("sensor.kopia_{key}")).await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for entity in monitor["entities"].as_array().unwrap() {
        assert!(
            core.state(entity.as_str().unwrap()).await.is_none(),
            "{entity} is still in Core"
        );
    }

    app.stop().await;
}

/// Restarts the real Core (tools/realha) with the periodic check set to an hour: only the
/// websocket watch can bring the entities back within seconds.
/// Every stored run is a `kopia_webhook_event` on Core's bus (fired over the websocket,
/// a batch per write), with the data automations use.
#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn every_run_is_an_event_on_a_real_cores_bus() {
    let core = Core::from_env();
    let mut events = core.subscribe("kopia_webhook_event").await;
    let app = App::start(&core, 60).await;
    let monitor = app.create_monitor("Core events", json!({})).await;
    let key = monitor["key"].as_str().unwrap().to_owned();
    let url = monitor["webhook_url"].as_str().unwrap();
    let response = send_kopia(&app.http, url, "snapshot-report.txt.default.expected").await;
    assert_eq!(response.status().as_u16(), 200);

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = events.next_event().await;
        if event["data"]["monitor"] == key.as_str() {
            seen.push(event);
        }
    }
    assert!(
        seen.iter().all(|e| e["event_type"] == "kopia_webhook_event"
            && e["context"]["user_id"].is_string()
            && e["data"]["entity_id"] == format!("sensor.kopia_{key}")),
        "{seen:#?}"
    );
    let mut statuses: Vec<&str> = seen
        .iter()
        .map(|e| e["data"]["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["failed", "success", "success", "success"]);
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn after_core_restarts_the_websocket_brings_every_entity_back() {
    let core = Core::from_env();
    let app = App::start(&core, 3600).await;
    let monitor = app.create_monitor("Restart", json!({})).await;
    let key = monitor["key"].as_str().unwrap().to_owned();
    let body = r#"{"status":"success","source":"db","size_bytes":1234}"#;
    app.http
        .post(monitor["webhook_url"].as_str().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    core.wait_for(&format!("sensor.kopia_{key}_size"), |s| {
        s["state"] == "1234"
    })
    .await;

    core.restart();

    let started_at = std::time::Instant::now();
    core.wait_for(&format!("sensor.kopia_{key}_size"), |s| {
        s["state"] == "1234"
    })
    .await;
    core.wait_for(&format!("binary_sensor.kopia_{key}_problem"), |s| {
        s["state"] == "off"
    })
    .await;
    eprintln!(
        "entities back {:.1} s after Core was up again",
        started_at.elapsed().as_secs_f64()
    );
    app.stop().await;
}

/// The IDs of the persistent notifications Core shows now.
async fn notification_ids(core: &Core) -> Vec<String> {
    let shown = core
        .ws_call(json!({"type": "persistent_notification/get"}))
        .await;
    shown
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notification_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn wait_for_notifications(core: &Core, check: impl Fn(&[String]) -> bool) -> Vec<String> {
    for _ in 0..300 {
        let ids = notification_ids(core).await;
        if check(&ids) {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the notifications never became as expected; now {:?}",
        notification_ids(core).await
    );
}

/// The option's persistent notification appears and goes; the repository's blueprint loads
/// in Core, and an automation made from it runs its actions when a backup turns bad.
#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn a_problem_notifies_by_itself_and_through_the_blueprint() {
    let core = Core::from_env();
    let blueprint = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/blueprints/automation/kopia_webhook/backup_problem.yaml"
    ))
    .unwrap();
    let saved = core
        .ws_call(json!({
            "type": "blueprint/save",
            "domain": "automation",
            "path": "kopia_webhook/backup_problem",
            "yaml": blueprint,
            "allow_override": true,
        }))
        .await;
    assert!(!saved.is_null(), "Core refused the blueprint");
    let listed = core
        .ws_call(json!({"type": "blueprint/list", "domain": "automation"}))
        .await;
    let entry = &listed["kopia_webhook/backup_problem.yaml"];
    assert_eq!(
        entry["metadata"]["name"], "Notify me when a backup has a problem",
        "{listed:#}"
    );

    let app = App::start_with(
        &core,
        3600,
        &[("KOPIA_WEBHOOK_PROBLEM_NOTIFICATIONS", "true")],
    )
    .await;
    let monitor = app.create_monitor("Notified", json!({})).await;
    let key = monitor["key"].as_str().unwrap().to_owned();
    let problem = format!("binary_sensor.kopia_{key}_problem");
    core.wait_for(&problem, |s| s["state"] == "off").await;

    // An automation from the blueprint, as the blueprint's "create automation" makes it.
    let automation_id = format!("kopia_blueprint_{}", std::process::id());
    let created = reqwest::Client::new()
        .post(format!(
            "{}/api/config/automation/config/{automation_id}",
            core.url
        ))
        .bearer_auth(&core.token)
        .json(&json!({
            "alias": format!("Backup problem {}", std::process::id()),
            "description": "",
            "use_blueprint": {
                "path": "kopia_webhook/backup_problem.yaml",
                "input": { "problem_sensors": [problem] },
            },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 200, "{:?}", created.text().await);
    let automation = format!("automation.backup_problem_{}", std::process::id());
    core.wait_for(&automation, |s| s["state"] == "on").await;

    let url = monitor["webhook_url"].as_str().unwrap();
    let post = |body: &'static str| app.http.post(url).body(body).send();
    post(r#"{"status":"failed","source":"/srv","error":"disk full"}"#)
        .await
        .unwrap();
    let ours = format!("kopia_webhook_{key}");
    let the_blueprints = format!("kopia_{key}_blueprint");
    let shown = wait_for_notifications(&core, |ids| {
        ids.contains(&ours) && ids.contains(&the_blueprints)
    })
    .await;
    eprintln!("notifications shown: {shown:?}");
    let all = core
        .ws_call(json!({"type": "persistent_notification/get"}))
        .await;
    let find = |id: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|n| n["notification_id"] == id)
            .cloned()
            .unwrap()
    };
    let by_blueprint = find(&the_blueprints);
    let by_option = find(&ours);
    eprintln!("the option's notification: {by_option:#}\nthe blueprint's: {by_blueprint:#}");
    assert_eq!(
        by_option["title"],
        format!("Backup problem: Notified {}", std::process::id())
    );
    assert_eq!(
        by_blueprint["message"],
        format!("Notified {} is failed: /srv: disk full", std::process::id())
    );
    let last = core.state(&automation).await.unwrap();
    assert!(!last["attributes"]["last_triggered"].is_null());

    post(r#"{"status":"success","source":"/srv"}"#)
        .await
        .unwrap();
    wait_for_notifications(&core, |ids| !ids.contains(&ours)).await;
    app.stop().await;
}

/// Home Assistant's own backups: a backup made through Core's API becomes a successful run of
/// `sensor.kopia_home_assistant_backups` with its size; one Core cannot make, a failed run
/// with Core's reason; the schedule follows Core's automatic-backup settings.
#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn home_assistants_own_backups_are_a_monitor() {
    let core = Core::from_env();
    let entity = "sensor.kopia_home_assistant_backups";
    core.forget(entity).await;
    // Home Assistant's zone, not the add-on's, is the schedule's.
    let zone = |tz: &str| json!({"type": "config/core/update", "time_zone": tz});
    assert_eq!(
        core.ws_answer(&core.token, zone("Europe/Berlin")).await["success"],
        true
    );
    let app = App::start(&core, 60).await;
    // Daily at 04:45: the monitor's schedule follows.
    let updated = core
        .ws_answer(
            &core.token,
            json!({"type": "backup/config/update",
                   "schedule": {"recurrence": "daily", "time": "04:45"}}),
        )
        .await;
    assert_eq!(updated["success"], true, "{updated}");

    let name = format!("Kopia test {}", std::process::id());
    let made = core
        .ws_answer(
            &core.token,
            json!({"type": "backup/generate", "agent_ids": ["backup.local"], "name": name}),
        )
        .await;
    assert_eq!(made["success"], true, "Core made the backup: {made}");
    let state = core
        .wait_for(entity, |s| {
            s["state"] == "success"
                && s["attributes"]["history"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|r| r["source"] == "manual"))
        })
        .await;
    println!("after a backup: {state}");
    assert_eq!(state["attributes"]["sender"], "home_assistant");
    assert!(state["attributes"]["size_bytes"].as_u64().unwrap_or(0) > 0);
    // Core's settings, read again after the backup: the monitor's schedule follows them.
    let mut monitor = Value::Null;
    for _ in 0..50 {
        monitor = app
            .http
            .get(format!("{}/api/monitors/home_assistant_backups", app.ui))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !monitor["schedule"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(monitor["schedule"]["cron"], "45 4 * * *", "{monitor}");
    assert_eq!(monitor["schedule"]["tz"], "Europe/Berlin", "{monitor}");

    // A backup to a location Core does not have fails: a failed run with Core's reason.
    let refused = core
        .ws_answer(
            &core.token,
            json!({"type": "backup/generate", "agent_ids": ["backup.nowhere"]}),
        )
        .await;
    assert_eq!(refused["success"], false, "{refused}");
    let failed = core.wait_for(entity, |s| s["state"] == "failed").await;
    println!("after a failed backup: {failed}");
    assert!(
        failed["attributes"]["error"]
            .as_str()
            .unwrap()
            .contains("backup manager could not make the backup"),
        "{failed}"
    );
    core.ws_answer(
        &core.token,
        json!({"type": "backup/config/update", "schedule": {"recurrence": "never"}}),
    )
    .await;
    core.ws_answer(&core.token, zone("UTC")).await;
    app.stop().await;
}

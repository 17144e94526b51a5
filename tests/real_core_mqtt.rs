//! Against a real Home Assistant 2026.11 Core with its MQTT integration set up against
//! Debian's Mosquitto (`tools/realha`): every entity has a unique ID and belongs to the
//! monitor's device (read back from Core's entity and device registries over its websocket),
//! states and attributes are right after a report, the event entity fires, the entities come
//! back after a Core restart with nothing from the add-on, turn unavailable when the add-on
//! dies, and rename and delete reach the device registry. Ignored in a plain `cargo test`;
//! `.ci/run` runs it:
//!
//!     mosquitto -c <conf with a listener on $PORT>
//!     set -a; eval "$(REALHA_MQTT=1 REALHA_MQTT_PORT=$PORT tools/realha/start.sh)"; set +a
//!     KOPIA_TEST_MQTT_URL=mqtt://127.0.0.1:$PORT cargo test --test real_core_mqtt -- --ignored

#[allow(dead_code)]
mod support {
    pub mod kopia;
    pub mod process;
    pub mod realha;
}

use std::time::Duration;

use serde_json::{Value, json};
use support::kopia::send_kopia;
use support::process::Running;
use support::realha::Core;

fn mqtt_url() -> String {
    std::env::var("KOPIA_TEST_MQTT_URL").expect("KOPIA_TEST_MQTT_URL=mqtt://127.0.0.1:<port>")
}

fn start_app(dir: &std::path::Path, core: &Core) -> Running {
    Running::start(
        dir,
        &[
            ("KOPIA_WEBHOOK_CORE_URL", &core.url),
            ("KOPIA_WEBHOOK_CORE_TOKEN", &core.token),
            ("KOPIA_WEBHOOK_MQTT_URL", &mqtt_url()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Home Assistant Core with MQTT: see the module documentation"]
async fn a_device_per_monitor_in_the_real_cores_registries() {
    let core = Core::from_env();
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path(), &core);
    let http = reqwest::Client::new();
    let name = format!("Real MQTT {}", std::process::id());
    let monitor: Value = app.create_monitor(json!({"name": name})).await;
    let key = monitor["key"].as_str().unwrap().to_owned();
    let main = format!("sensor.kopia_{key}");

    // The first report comes at once, before Core has set up the device.
    let url = format!(
        "{}/api/webhook/{}",
        app.webhook_base,
        monitor["webhook_id"].as_str().unwrap()
    );
    let sent = send_kopia(&http, &url, "snapshot-report.txt.default.expected").await;
    assert_eq!(sent.status().as_u16(), 200);

    let device_id = every_entity_on_its_device(&core, &key, &main, &name).await;

    // That first report: states and attributes, and the event entity fired.
    let state = core.wait_for(&main, |s| s["state"] == "failed").await;
    assert_eq!(
        state["attributes"]["error"],
        "/some/other/path: some top-level error"
    );
    assert_eq!(state["attributes"]["friendly_name"], name.as_str());
    core.wait_for(&format!("sensor.kopia_{key}_size"), |s| s["state"] == "456")
        .await;
    core.wait_for(&format!("binary_sensor.kopia_{key}_problem"), |s| {
        s["state"] == "on"
    })
    .await;
    overview_on_the_addons_device(&core, &main, &key).await;
    let event = core
        .wait_for(&format!("event.kopia_{key}_runs"), |s| {
            s["attributes"]["event_type"].is_string()
        })
        .await;
    println!("event entity after the report: {event}");

    // Core restarts: the entities come back with their states, nothing sent by the add-on.
    core.restart();
    let back = core.wait_for(&main, |s| s["state"] == "failed").await;
    assert_eq!(
        back["attributes"]["error"],
        "/some/other/path: some top-level error"
    );

    // Rename: the device follows.
    let renamed = format!("{name} renamed");
    http.patch(format!("{}/api/monitors/{key}", app.ui_base))
        .json(&json!({"name": renamed}))
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        if core
            .device(&device_id)
            .await
            .is_some_and(|d| d["name"] == renamed.as_str())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        core.device(&device_id).await.unwrap()["name"],
        renamed.as_str()
    );

    // The add-on dies: its entities turn unavailable (the broker's last will).
    app.kill_hard();
    core.wait_for(&main, |s| s["state"] == "unavailable").await;

    // Back, then the monitor is deleted: the device leaves the registry.
    let app = start_app(dir.path(), &core);
    core.wait_for(&main, |s| s["state"] == "failed").await;
    let deleted = http
        .delete(format!("{}/api/monitors/{key}", app.ui_base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    for _ in 0..100 {
        if core.entity_entry(&main).await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        core.entity_entry(&main).await.is_none(),
        "the entity is gone"
    );
    assert!(
        core.device(&device_id).await.is_none(),
        "the device is gone"
    );
    app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Home Assistant Core with MQTT: see the module documentation"]
async fn switching_from_rest_states_keeps_the_entity_ids() {
    let core = Core::from_env();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // An earlier version: REST states only.
    let rest = Running::start(
        dir.path(),
        &[
            ("KOPIA_WEBHOOK_CORE_URL", &core.url),
            ("KOPIA_WEBHOOK_CORE_TOKEN", &core.token),
        ],
    );
    let name = format!("Switch {}", std::process::id());
    let monitor: Value = rest.create_monitor(json!({"name": name})).await;
    let key = monitor["key"].as_str().unwrap().to_owned();
    let main = format!("sensor.kopia_{key}");
    core.wait_for(&main, |_| true).await;
    assert!(
        core.entity_entry(&main).await.is_none(),
        "a REST state has no registry entry"
    );
    rest.stop();

    // With the broker: the same entity IDs, now registered, and no `_2` doubles.
    let app = start_app(dir.path(), &core);
    for _ in 0..150 {
        if core.entity_entry(&main).await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entry = core
        .entity_entry(&main)
        .await
        .expect("registered under the same ID");
    assert_eq!(entry["platform"], "mqtt");
    for suffix in ["", "_size", "_last_success", "_duration"] {
        assert!(
            core.entity_entry(&format!("sensor.kopia_{key}{suffix}_2"))
                .await
                .is_none(),
            "sensor.kopia_{key}{suffix}_2 exists: the switch doubled an entity"
        );
    }
    let deleted = http
        .delete(format!("{}/api/monitors/{key}", app.ui_base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    app.stop();
}

/// Every entity is in Core's registry with a unique ID, on the monitor's device: its ID.
/// The add-on's own device: `binary_sensor.kopia_backups_problem` on, naming the monitor.
async fn overview_on_the_addons_device(core: &Core, main: &str, key: &str) {
    let main_entry = core.entity_entry(main).await.unwrap();
    // `kopia_webhook_<install>_<monitor id>_status`
    let unique = main_entry["unique_id"].as_str().unwrap();
    let install = unique.split('_').nth(2).unwrap();
    let mut entry = None;
    for _ in 0..100 {
        entry = core
            .entity_by_unique_id(&format!("kopia_webhook_{install}_backups_problem"))
            .await;
        if entry.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entry = entry.expect("the overview's problem sensor is registered");
    let entity_id = entry["entity_id"].as_str().unwrap();
    assert!(entity_id.starts_with("binary_sensor.kopia_backups_problem"));
    let state = core
        .wait_for(entity_id, |s| {
            s["state"] == "on"
                && s["attributes"]["problems"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|m| m["monitor"] == key))
        })
        .await;
    println!("overview in the real Core: {state}");
    let device = core
        .device(entry["device_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(device["name"], "Kopia Webhook Status");
    let count = core
        .entity_by_unique_id(&format!("kopia_webhook_{install}_backups"))
        .await
        .expect("the monitor count is registered");
    assert_eq!(count["device_id"], entry["device_id"]);
}

async fn every_entity_on_its_device(core: &Core, key: &str, main: &str, name: &str) -> String {
    core.wait_for(main, |_| true).await;
    let main_entry = core
        .entity_entry(main)
        .await
        .expect("the main entity is registered");
    assert_eq!(main_entry["platform"], "mqtt");
    assert!(
        main_entry["unique_id"]
            .as_str()
            .unwrap()
            .starts_with("kopia_webhook_")
    );
    let device_id = main_entry["device_id"].as_str().unwrap().to_owned();
    for suffix in ["_last_success", "_size", "_duration"] {
        let entry = core
            .entity_entry(&format!("sensor.kopia_{key}{suffix}"))
            .await
            .unwrap_or_else(|| panic!("sensor.kopia_{key}{suffix} is registered"));
        assert_eq!(entry["device_id"], device_id.as_str());
        assert!(entry["unique_id"].is_string());
    }
    for entity in [
        format!("binary_sensor.kopia_{key}_problem"),
        format!("event.kopia_{key}_runs"),
    ] {
        let entry = core
            .entity_entry(&entity)
            .await
            .unwrap_or_else(|| panic!("{entity}"));
        assert_eq!(entry["device_id"], device_id.as_str());
    }
    let device = core.device(&device_id).await.unwrap();
    assert_eq!(device["name"], name);
    assert_eq!(device["manufacturer"], "Kopia Webhook Status");
    println!("device in Core's registry: {device}");
    println!("main entity in Core's registry: {main_entry}");

    device_id
}

//! Against a real Home Assistant Core (`tools/realha/start.sh`): the entities appear with the
//! right attributes, come back when Core loses them, and go when the monitor is deleted.
//! Ignored in a plain `cargo test`; `.ci/run` starts Core and runs it with `--ignored`:
//!
//!     set -a; eval "$(tools/realha/start.sh)"; set +a
//!     cargo test --test real_core -- --ignored --test-threads=1
//!
//! One test restarts that Core, so they run one at a time.

use std::collections::HashMap;
use std::time::Duration;

use kopia_webhook::app::Application;
use kopia_webhook::config::Settings;
use serde_json::{Value, json};

struct Core {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Core {
    fn from_env() -> Self {
        let url =
            std::env::var("REALHA_URL").expect("REALHA_URL: start Core with tools/realha/start.sh");
        let token_file = std::env::var("REALHA_TOKEN_FILE").expect("REALHA_TOKEN_FILE");
        let token = std::fs::read_to_string(token_file)
            .unwrap()
            .trim()
            .to_owned();
        Self {
            url,
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn state(&self, entity_id: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/api/states/{entity_id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => Some(response.json().await.unwrap()),
            404 => None,
            other => panic!("Core answered {other}"),
        }
    }

    async fn wait_for(&self, entity_id: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..150 {
            if let Some(state) = self.state(entity_id).await
                && check(&state)
            {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{entity_id} never reached the expected state; now {:?}",
            self.state(entity_id).await
        );
    }

    async fn forget(&self, entity_id: &str) {
        self.http
            .delete(format!("{}/api/states/{entity_id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn entities_reach_a_real_core_come_back_and_go() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let core = Core::from_env();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("KOPIA_WEBHOOK_DATA_DIR", dir.path().display().to_string()),
        ("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_CORE_URL", core.url.clone()),
        ("KOPIA_WEBHOOK_CORE_TOKEN", core.token.clone()),
        ("KOPIA_WEBHOOK_RECONCILE_SECS", "1".into()),
    ]);
    let app = Application::build(Settings::load(|k| env.get(k).cloned()).unwrap())
        .await
        .unwrap();
    let ui = format!("http://127.0.0.1:{}", app.ui_port());
    let stopper = app.stopper();
    let server = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let name = format!("Real core {}", std::process::id());
    let monitor: Value = http
        .post(format!("{ui}/api/monitors"))
        .json(&json!({"name": name, "schedule": "1d"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = monitor["key"].as_str().unwrap().to_owned();

    // Kopia's default report, as Kopia sends it.
    let rendered = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kopia/snapshot-report.txt.default.expected"
    ))
    .unwrap();
    let (head, body) = rendered.split_once("\n\n").unwrap();
    let response = http
        .post(monitor["webhook_url"].as_str().unwrap())
        .header("Subject", head.strip_prefix("Subject: ").unwrap())
        .body(body.trim_end().to_owned())
        .send()
        .await
        .unwrap();
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
    let deleted = http
        .delete(format!("{ui}/api/monitors/{key}"))
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

    stopper.stop().await;
    let _ = server.await;
}

/// Restarts the real Core (tools/realha) with the periodic check set to an hour: only the
/// websocket watch can bring the entities back within seconds.
#[tokio::test]
#[ignore = "needs a real Home Assistant Core: see the module documentation"]
async fn after_core_restarts_the_websocket_brings_every_entity_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let core = Core::from_env();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("KOPIA_WEBHOOK_DATA_DIR", dir.path().display().to_string()),
        ("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_CORE_URL", core.url.clone()),
        ("KOPIA_WEBHOOK_CORE_TOKEN", core.token.clone()),
        ("KOPIA_WEBHOOK_RECONCILE_SECS", "3600".into()),
    ]);
    let app = Application::build(Settings::load(|k| env.get(k).cloned()).unwrap())
        .await
        .unwrap();
    let ui = format!("http://127.0.0.1:{}", app.ui_port());
    let stopper = app.stopper();
    let server = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let name = format!("Restart {}", std::process::id());
    let monitor: Value = http
        .post(format!("{ui}/api/monitors"))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = monitor["key"].as_str().unwrap().to_owned();
    let body = r#"{"status":"success","source":"db","size_bytes":1234}"#;
    http.post(monitor["webhook_url"].as_str().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    core.wait_for(&format!("sensor.kopia_{key}_size"), |s| {
        s["state"] == "1234"
    })
    .await;

    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/realha");
    let stopped = std::process::Command::new(format!("{tools}/stop.sh"))
        .status()
        .unwrap();
    assert!(stopped.success());
    let started = std::process::Command::new(format!("{tools}/start.sh"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(started.success());
    let core = Core::from_env();

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

    stopper.stop().await;
    let _ = server.await;
}

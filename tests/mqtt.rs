//! Entities through MQTT discovery, against Debian's Mosquitto started by the test: the
//! device config, states and attributes (retained), the event entity, availability (the
//! last will when the add-on dies), rename, delete, Home Assistant's birth message, and the
//! switch from REST states. A fake Core takes the REST calls.

// Each test binary uses part of the shared helpers.
#[allow(dead_code)]
mod support {
    pub mod mosquitto;
    pub mod process;
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use support::mosquitto::Mosquitto;
use support::process::Running;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CORE_TOKEN: &str = "mqtt-test-core-token-0123456789";

/// Everything published on the broker: the latest payload per topic (retained or not), and
/// every event message.
#[derive(Clone, Default)]
struct Watcher {
    latest: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    events: Arc<Mutex<Vec<(String, Value)>>>,
    client: Option<AsyncClient>,
}

impl Watcher {
    async fn start(port: u16, credentials: (&str, &str)) -> Self {
        // Its own client ID: a second watcher must not take over the first one's session.
        static WATCHERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = WATCHERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut options = MqttOptions::new(format!("test-watcher-{n}"), "127.0.0.1", port);
        options.set_credentials(credentials.0, credentials.1);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        let watcher = Self {
            client: Some(client),
            ..Self::default()
        };
        let (latest, events) = (Arc::clone(&watcher.latest), Arc::clone(&watcher.events));
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if p.topic.ends_with("/event")
                            && let Ok(value) = serde_json::from_slice(&p.payload)
                        {
                            events.lock().unwrap().push((p.topic.clone(), value));
                        }
                        latest.lock().unwrap().insert(p.topic, p.payload.to_vec());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        watcher
    }

    fn get(&self, topic: &str) -> Option<Vec<u8>> {
        self.latest.lock().unwrap().get(topic).cloned()
    }

    async fn wait_for(&self, topic: &str, what: &str, check: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        for _ in 0..400 {
            if let Some(payload) = self.get(topic)
                && check(&payload)
            {
                return payload;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{topic}: never {what}; last: {:?}",
            self.get(topic)
                .map(|p| String::from_utf8_lossy(&p).into_owned())
        );
    }

    async fn wait_json(&self, topic: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let payload = self
            .wait_for(topic, what, |p| {
                serde_json::from_slice::<Value>(p).is_ok_and(|v| check(&v))
            })
            .await;
        serde_json::from_slice(&payload).unwrap()
    }

    async fn publish(&self, topic: &str, payload: &str) {
        if let Some(client) = &self.client {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    }
}

/// A fake Core 2026.11 with the MQTT integration set up.
async fn fake_core() -> MockServer {
    fake_core_with(json!({"version": "2026.11.0", "components": ["mqtt", "sensor"]})).await
}

/// A fake Core whose `GET /api/config` answers `config`.
async fn fake_core_with(config: Value) -> MockServer {
    let core = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/config$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(config))
        .mount(&core)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/(states|events)/.+$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .mount(&core)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/api/states/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&core)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/states/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "x"})))
        .mount(&core)
        .await;
    core
}

fn start_app(dir: &std::path::Path, core: &MockServer, broker: Option<&str>) -> Running {
    let mut env = vec![
        ("KOPIA_WEBHOOK_CORE_URL", core.uri()),
        ("KOPIA_WEBHOOK_CORE_TOKEN", CORE_TOKEN.to_owned()),
    ];
    if let Some(url) = broker {
        env.push(("KOPIA_WEBHOOK_MQTT_URL", url.to_owned()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Running::start(dir, &env)
}

/// Waits (at most 10 s) until the fake Core has received this request.
async fn core_got(core: &MockServer, verb: &str, path: &str) -> bool {
    for _ in 0..100 {
        let seen = core
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.method.as_str() == verb && r.url.path() == path);
        if seen {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_per_monitor_with_unique_ids_states_events_and_availability() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = Mosquitto::start(Some(("addons", "broker-password")));
    let watcher_broker_user = broker.url(Some(("addons", "broker-password")));
    let core = fake_core().await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // First without MQTT: REST states, as in every earlier version.
    let app = start_app(dir.path(), &core, None);
    let monitor = app.create_monitor(json!({"name": "NAS"})).await;
    let id = monitor["webhook_id"].as_str().unwrap().to_owned();
    assert!(
        core_got(&core, "POST", "/api/states/sensor.kopia_nas").await,
        "without a broker, REST states"
    );
    app.stop();

    let watcher = Watcher::start(broker.port, ("addons", "broker-password")).await;

    // Then with the broker: the same monitor becomes a device, and its REST states go.
    let app = start_app(dir.path(), &core, Some(&watcher_broker_user));
    let monitor_id = {
        let listed: Vec<Value> = http
            .get(format!("{}/api/monitors", app.ui_base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed[0]["entities_path"], "mqtt");
        listed[0]["key"].as_str().unwrap().to_owned()
    };
    assert_eq!(monitor_id, "nas");
    let config_topic = find_config_topic(&watcher).await;
    let config = watcher
        .wait_json(&config_topic, "a device config", |v| {
            v["dev"]["name"] == "NAS"
        })
        .await;
    let components = config["cmps"].as_object().unwrap();
    assert_eq!(
        components.len(),
        6,
        "status, last success, size, duration, problem, runs"
    );
    for (component, c) in components {
        assert!(
            c["uniq_id"]
                .as_str()
                .is_some_and(|u| u.ends_with(component.as_str())),
            "{component} has a unique ID"
        );
    }
    assert_eq!(components["status"]["def_ent_id"], "sensor.kopia_nas");
    // Availability is this install's: another add-on on the broker never touches it.
    let availability = config["avty"][0]["t"].as_str().unwrap().to_owned();
    assert!(
        availability.starts_with("kopia_webhook/") && availability.ends_with("/status"),
        "{availability}"
    );
    watcher
        .wait_for(&availability, "online", |p| p == b"online")
        .await;
    assert!(
        core_got(&core, "DELETE", "/api/states/sensor.kopia_nas").await,
        "the REST state is removed so nothing is doubled"
    );

    // A report: states, attributes and an event.
    let report = http
        .post(format!("{}/api/webhook/{id}", app.webhook_base))
        .body(r#"{"status":"failed","source":"/home","error":"disk full","size_bytes":0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status().as_u16(), 200);
    let state = watcher
        .wait_json("kopia_webhook/nas/state", "failed", |v| {
            v["status"] == "failed"
        })
        .await;
    assert_eq!(state["problem"], "on");
    assert!(
        state["size"].is_null(),
        "a failed run is not a backup of 0 B"
    );
    let attributes = watcher
        .wait_json("kopia_webhook/nas/attributes", "the error", |v| {
            v["error"] == "/home: disk full"
        })
        .await;
    assert!(attributes.get("friendly_name").is_none());
    overview_device(&watcher, &core, &availability).await;
    for _ in 0..100 {
        if !watcher.events.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = watcher.events.lock().unwrap().clone();
    assert_eq!(events[0].0, "kopia_webhook/nas/event");
    assert_eq!(events[0].1["event_type"], "failed");

    // Home Assistant restarted (its birth message): everything is published again.
    watcher.latest.lock().unwrap().remove(&config_topic);
    watcher.publish("homeassistant/status", "online").await;
    watcher
        .wait_json(&config_topic, "republished", |v| v["dev"]["name"] == "NAS")
        .await;

    dies_comes_back_and_deletes(app, &watcher, &availability, &config_topic, || {
        start_app(dir.path(), &core, Some(&watcher_broker_user))
    })
    .await;
}

/// The add-on's own device: the overview of every monitor, its REST states of before removed.
async fn overview_device(watcher: &Watcher, core: &MockServer, availability: &str) {
    let install = availability
        .strip_prefix("kopia_webhook/")
        .and_then(|t| t.strip_suffix("/status"))
        .unwrap();
    let config = watcher
        .wait_json(
            &format!("homeassistant/device/kopia_webhook_{install}/config"),
            "the add-on's device",
            |v| v["dev"]["name"] == "Kopia Webhook Status",
        )
        .await;
    assert_eq!(
        config["cmps"]["backups_problem"]["def_ent_id"],
        "binary_sensor.kopia_backups_problem"
    );
    assert_eq!(
        config["cmps"]["backups"]["def_ent_id"],
        "sensor.kopia_backups"
    );
    watcher
        .wait_json(
            &format!("kopia_webhook/{install}/overview/state"),
            "a problem",
            |v| v["backups_problem"] == "on" && v["backups"] == 1,
        )
        .await;
    let attributes = watcher
        .wait_json(
            &format!("kopia_webhook/{install}/overview/attributes"),
            "the failing monitor",
            |v| v["failed"] == 1,
        )
        .await;
    assert_eq!(attributes["problems"][0]["monitor"], "nas");
    assert!(
        core_got(
            core,
            "DELETE",
            "/api/states/binary_sensor.kopia_backups_problem"
        )
        .await,
        "the overview's REST state is removed so nothing is doubled"
    );
}

/// Renaming the monitor renames its device. The add-on dies: the broker's last will marks
/// every entity unavailable; started again, it is online, and deleting the monitor empties
/// its retained device config.
async fn dies_comes_back_and_deletes(
    app: Running,
    watcher: &Watcher,
    availability: &str,
    config_topic: &str,
    start_again: impl FnOnce() -> Running,
) {
    let http = reqwest::Client::new();
    // Rename: the device follows. Delete: the device goes (empty retained config).
    let renamed = http
        .patch(format!("{}/api/monitors/nas", app.ui_base))
        .json(&json!({"name": "NAS photos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status().as_u16(), 200);
    watcher
        .wait_json(config_topic, "renamed", |v| {
            v["dev"]["name"] == "NAS photos"
        })
        .await;

    app.kill_hard();
    watcher
        .wait_for(availability, "offline", |p| p == b"offline")
        .await;

    let app = start_again();
    watcher
        .wait_for(availability, "online again", |p| p == b"online")
        .await;
    let deleted = http
        .delete(format!("{}/api/monitors/nas", app.ui_base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    for _ in 0..400 {
        if watcher.get(config_topic).is_some_and(|p| p.is_empty()) {
            app.stop();
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = app.log.lock().unwrap().clone();
    panic!("{config_topic}: never emptied after the delete; the add-on's log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_refuses_the_password_is_a_clear_message() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = Mosquitto::start(Some(("addons", "right-password")));
    let core = fake_core().await;
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(
        dir.path(),
        &core,
        Some(&broker.url(Some(("addons", "wrong-password")))),
    );
    let http = reqwest::Client::new();
    let mut entities = Value::Null;
    for _ in 0..100 {
        let status: Value = http
            .get(format!("{}/api/status", app.ui_base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        entities = status["home_assistant"]["entities"].clone();
        if entities["mqtt"]["error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entities["path"], "mqtt");
    assert_eq!(
        entities["mqtt"]["error"],
        "the broker refused the user name or password"
    );
    let log = app.stop();
    assert!(
        log.matches("the broker refused the user name or password")
            .count()
            <= 2,
        "one line, not a log storm:\n{log}"
    );
}

/// The device config topic of the one monitor, as the add-on published it (not the
/// add-on's own device, `homeassistant/device/kopia_webhook_<install>/config`).
async fn find_config_topic(watcher: &Watcher) -> String {
    for _ in 0..400 {
        let found = watcher
            .latest
            .lock()
            .unwrap()
            .keys()
            .find(|t| {
                t.strip_prefix("homeassistant/device/kopia_webhook_")
                    .and_then(|rest| rest.strip_suffix("/config"))
                    .is_some_and(|device| device.contains('_'))
            })
            .cloned();
        if let Some(topic) = found {
            return topic;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no device config was published");
}

/// The add-on as the Supervisor runs it (a token, the Supervisor's API), with a monitor from
/// the options, and a fake Supervisor that offers `broker` on `/services/mqtt` (or answers as
/// it does without Mosquitto).
async fn start_as_addon(
    dir: &std::path::Path,
    core: &MockServer,
    broker: Option<&Mosquitto>,
) -> (Running, MockServer) {
    start_as_addon_ssl(dir, core, broker, false).await
}

/// [`start_as_addon`] with a broker the Supervisor says speaks TLS (`ssl`).
async fn start_as_addon_ssl(
    dir: &std::path::Path,
    core: &MockServer,
    broker: Option<&Mosquitto>,
    ssl: bool,
) -> (Running, MockServer) {
    let supervisor = MockServer::start().await;
    let answer = match broker {
        Some(broker) => ResponseTemplate::new(200).set_body_json(json!({"result": "ok", "data": {
            "host": "127.0.0.1", "port": broker.port, "ssl": ssl, "protocol": "3.1.1",
            "username": "addons", "password": "broker-password", "addon": "core_mosquitto"}})),
        None => ResponseTemplate::new(400)
            .set_body_json(json!({"result": "error", "message": "Service not enabled"})),
    };
    Mock::given(method("GET"))
        .and(path_regex("^/services/mqtt$"))
        .respond_with(answer)
        .mount(&supervisor)
        .await;
    std::fs::write(
        dir.join("options.json"),
        json!({"entities": "auto", "monitors": [
            {"name": "Declared", "webhook_id": "declared-monitor-webhook-id-0001"}]})
        .to_string(),
    )
    .unwrap();
    let app = Running::start(
        dir,
        &[
            ("SUPERVISOR_TOKEN", "fake-supervisor-token-0123456789"),
            ("KOPIA_WEBHOOK_SUPERVISOR_URL", &supervisor.uri()),
            ("KOPIA_WEBHOOK_CORE_URL", &core.uri()),
            ("KOPIA_WEBHOOK_CORE_TOKEN", CORE_TOKEN),
        ],
    );
    (app, supervisor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_takes_the_broker_the_supervisor_offers_and_rest_without_one() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = Mosquitto::start(Some(("addons", "broker-password")));
    let watcher = Watcher::start(broker.port, ("addons", "broker-password")).await;

    let core = fake_core().await;
    let dir = tempfile::tempdir().unwrap();
    let (app, _supervisor) = start_as_addon(dir.path(), &core, Some(&broker)).await;
    let config = watcher
        .wait_json(&find_config_topic(&watcher).await, "a device", |v| {
            v["dev"]["name"] == "Declared"
        })
        .await;
    assert_eq!(
        config["cmps"]["status"]["def_ent_id"],
        "sensor.kopia_declared"
    );
    let rest_states = core
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().starts_with("/api/states/"))
        .count();
    assert_eq!(rest_states, 0, "with a broker, no REST states");
    app.stop();

    let core = fake_core().await;
    let dir = tempfile::tempdir().unwrap();
    let (app, _supervisor) = start_as_addon(dir.path(), &core, None).await;
    assert!(
        core_got(&core, "POST", "/api/states/sensor.kopia_declared").await,
        "without a broker, REST states"
    );
    let log = app.stop();
    assert!(log.contains("no MQTT broker"), "{log}");
}

/// `auto` takes a broker only when the entities would really arrive: Core has the MQTT
/// integration, is new enough for device discovery, and the broker needs no TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_keeps_rest_states_when_mqtt_entities_would_not_arrive() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = Mosquitto::start(Some(("addons", "broker-password")));
    for (config, ssl, why) in [
        (
            json!({"version": "2026.11.0", "components": ["sensor"]}),
            false,
            "no MQTT integration",
        ),
        (
            json!({"version": "2025.9.4", "components": ["mqtt"]}),
            false,
            "older than 2025.10",
        ),
        (
            json!({"version": "2026.11.0", "components": ["mqtt"]}),
            true,
            "asks for TLS",
        ),
    ] {
        let core = fake_core_with(config).await;
        let dir = tempfile::tempdir().unwrap();
        let (app, _supervisor) = start_as_addon_ssl(dir.path(), &core, Some(&broker), ssl).await;
        assert!(
            core_got(&core, "POST", "/api/states/sensor.kopia_declared").await,
            "{why}: REST states"
        );
        let deletes = core
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .count();
        assert_eq!(deletes, 0, "{why}: no REST state removed");
        let log = app.stop();
        assert!(log.contains(why), "{why}: {log}");
    }
}

/// The broker goes away while reports arrive, and comes back empty: reports are answered
/// at once meanwhile, and afterwards every entity is available with its newest state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_was_down_while_reports_arrived_gets_every_newest_state() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut broker = Mosquitto::start(None);
    let core = fake_core().await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let app = start_app(dir.path(), &core, Some(&broker.url(None)));
    let mut ids = Vec::new();
    for name in ["One", "Two", "Three", "Four"] {
        let monitor = app.create_monitor(json!({"name": name})).await;
        ids.push(monitor["webhook_id"].as_str().unwrap().to_owned());
    }
    let watcher = Watcher::start(broker.port, ("", "")).await;
    watcher
        .wait_json("kopia_webhook/four/state", "published", |_| true)
        .await;
    drop(watcher);

    broker.stop();
    // 200 reports, 50 per monitor; each monitor's last one is its newest state.
    for n in 0..200 {
        let id = &ids[n % 4];
        let status = if n >= 196 && n % 2 == 1 {
            "failed"
        } else {
            "success"
        };
        let started = std::time::Instant::now();
        let answer = http
            .post(format!("{}/api/webhook/{id}", app.webhook_base))
            .body(format!(
                r#"{{"status":"{status}","source":"/run-{n}","size_bytes":{n}}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "report {n} waited for the broker"
        );
        // Each report its own evaluation (past the evaluator's 20 ms settle): states,
        // attributes and an event per report, more than the MQTT client's queue holds.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // The evaluator and the pusher are not stuck behind the broker: REST events still go.
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.start_again();

    let watcher = Watcher::start(broker.port, ("", "")).await;
    let config_topic = find_config_topic(&watcher).await;
    let availability = watcher
        .wait_json(&config_topic, "a device config", |v| {
            v["avty"][0]["t"].is_string()
        })
        .await["avty"][0]["t"]
        .as_str()
        .unwrap()
        .to_owned();
    for (key, status) in [
        ("one", "success"),
        ("two", "failed"),
        ("three", "success"),
        ("four", "failed"),
    ] {
        watcher
            .wait_json(&format!("kopia_webhook/{key}/state"), status, |v| {
                v["status"] == status
            })
            .await;
    }
    watcher
        .wait_for(&availability, "online", |p| p == b"online")
        .await;
    app.stop();
}

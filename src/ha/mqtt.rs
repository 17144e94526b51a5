//! Home Assistant entities through MQTT discovery: one device per monitor, every entity
//! with a unique ID, so users can rename them, give them an area and find them on the
//! device's page.
//!
//! Topics (`<key>` is the monitor's key):
//! - `homeassistant/device/kopia_webhook_<id>/config`: the device and its components from the
//!   entity catalogue (retained; an empty retained payload removes the device);
//! - `kopia_webhook/<key>/state` and `…/attributes`: values and the main entity's
//!   attributes (retained, so a Core restart needs nothing from the add-on);
//! - `kopia_webhook/<key>/event`: one message per run for the event entity (never retained);
//! - `homeassistant/device/kopia_webhook_<install>/config` and
//!   `kopia_webhook/<install>/overview/{state,attributes}`: the add-on's own device, every
//!   monitor at a glance (`sensor.kopia_backups`, `binary_sensor.kopia_backups_problem`);
//! - `kopia_webhook/<install>/status`: `online`, and the broker's `offline` (last will) when
//!   the add-on stops or dies.
//!
//! On every connection, and when Home Assistant announces itself on `homeassistant/status`,
//! everything is published again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Packet, QoS};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::catalogue::{CATALOGUE, EVENT_TYPES, OVERVIEW, Platform, STATUS, STATUS_OPTIONS};
use super::{main_attributes, overview_attributes};
use crate::config::BrokerSettings;
use crate::domain::{
    EventKind, Monitor, MonitorKey, MonitorSummary, Overview, RunStatus, StoredEvent,
};

pub const DISCOVERY_PREFIX: &str = "homeassistant";
/// `kopia_webhook/<install>/status`: per install, so two add-ons on one broker (or an old
/// install's last will) never mark each other's entities unavailable.
pub fn availability_topic(install: &str) -> String {
    format!("kopia_webhook/{install}/status")
}
const BIRTH_TOPIC: &str = "homeassistant/status";
const ORIGIN_URL: &str = "https://github.com/kopia-webhook-status/kopia-webhook";
/// Discovery payloads of a monitor with long names stay well under this.
const MAX_PACKET: usize = 256 * 1024;

/// How the broker connection is doing, for the panel and the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStatus {
    pub broker: String,
    pub connected: bool,
    /// What went wrong last, in words ("the broker refused the user name or password").
    pub error: Option<String>,
    pub since: Option<Timestamp>,
}

/// What was last published for a monitor, so unchanged messages are not sent again.
#[derive(Default)]
struct Published {
    config: String,
    state: String,
    attributes: String,
}

/// How long Core may take to set up entities from a new device config; an event sent
/// before it listens is lost (events are never retained).
const DISCOVERY_SETTLE: Duration = Duration::from_secs(2);

/// The MQTT side of the publisher.
pub struct Mqtt {
    client: AsyncClient,
    link: Mutex<LinkStatus>,
    published: Mutex<HashMap<i64, Published>>,
    /// What was last published for the add-on's own device.
    overview: Mutex<Published>,
    /// When each monitor's device config was last sent (see [`DISCOVERY_SETTLE`]).
    announced: Mutex<HashMap<MonitorKey, std::time::Instant>>,
    /// `homeassistant://hassio/ingress/<slug>`: the device page's link to the panel.
    configuration_url: Option<String>,
    /// This install's ID, in every device and unique ID.
    install: String,
    /// A message could not be queued (the client's queue was full): everything is
    /// published again once the queue has room.
    resend: std::sync::atomic::AtomicBool,
    /// The subscription and `online` of the last connection are still to be queued.
    announce: std::sync::atomic::AtomicBool,
    /// Deleted monitors: never published again (IDs are never reused), and their retained
    /// messages emptied, kept here until that could be queued.
    deleted: Mutex<HashSet<i64>>,
    removals: Mutex<HashMap<i64, MonitorKey>>,
    /// The connection's task, for [`Mqtt::stop`].
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

/// What MQTT discovery needs besides the broker.
#[derive(Debug, Clone)]
pub struct MqttSetup {
    pub broker: BrokerSettings,
    /// The add-on's full slug, for the device page's link to the panel.
    pub addon_slug: Option<String>,
    pub install: String,
}

impl Mqtt {
    /// Connects (and keeps reconnecting, with backoff) in the background. `republish` is
    /// called whenever everything must be published again (a connection, Core's birth).
    pub fn start(setup: MqttSetup, republish: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        let broker = &setup.broker;
        let mut random = [0u8; 4];
        let _ = getrandom::fill(&mut random);
        let client_id = format!("kopia_webhook_{}", hex::encode(random));
        let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        options.set_last_will(LastWill::new(
            availability_topic(&setup.install),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &broker.username {
            let password = broker
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            options.set_credentials(user.clone(), password);
        }
        let (client, eventloop) = AsyncClient::new(options, 512);
        let mqtt = Arc::new(Self {
            client,
            link: Mutex::new(LinkStatus {
                broker: format!("{}:{}", broker.host, broker.port),
                ..LinkStatus::default()
            }),
            published: Mutex::default(),
            overview: Mutex::default(),
            announced: Mutex::default(),
            configuration_url: setup
                .addon_slug
                .as_ref()
                .map(|slug| format!("homeassistant://hassio/ingress/{slug}")),
            install: setup.install.clone(),
            resend: std::sync::atomic::AtomicBool::new(false),
            announce: std::sync::atomic::AtomicBool::new(false),
            deleted: Mutex::default(),
            removals: Mutex::default(),
            task: Mutex::default(),
        });
        if broker.tls {
            mqtt.set_error(
                "the broker asks for TLS, which this add-on does not speak: give Mosquitto a plain listener"
                    .to_owned(),
            );
        }
        let running = tokio::spawn(run(Arc::clone(&mqtt), eventloop, republish));
        *mqtt.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(running.abort_handle());
        mqtt
    }

    /// Ends the connection's task (the add-on pushes elsewhere now, or no more).
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }

    pub fn status(&self) -> LinkStatus {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_error(&self, error: String) {
        let mut link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        if link.error.as_deref() != Some(error.as_str()) {
            tracing::warn!(broker = %link.broker, %error, "MQTT broker not reachable; retrying with backoff");
        }
        link.connected = false;
        link.error = Some(error);
    }

    /// Publishes the monitor's device (if it changed), states and attributes (if they did).
    /// `model` is what the device page says reports to it ("Duplicati reports").
    pub fn publish_monitor(&self, monitor: &Monitor, summary: &MonitorSummary, model: &str) {
        // An evaluation that read the monitor just before it was deleted must not bring its
        // device back: the check and the queueing happen under the lock the deletion takes,
        // so the broker gets the device then its removal, or nothing.
        let deleted = self.deleted.lock().unwrap_or_else(|p| p.into_inner());
        if deleted.contains(&monitor.id) {
            return;
        }
        let config = discovery_config(
            &self.install,
            monitor,
            summary,
            model,
            self.configuration_url.as_deref(),
        )
        .to_string();
        let state = state_payload(summary).to_string();
        let attributes = Value::Object(main_attributes(monitor, summary, false)).to_string();
        let (config_changed, state_changed, attributes_changed) = {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            let last = published.entry(monitor.id).or_default();
            let changes = (
                last.config != config,
                last.state != state,
                last.attributes != attributes,
            );
            last.config.clone_from(&config);
            last.state.clone_from(&state);
            last.attributes.clone_from(&attributes);
            changes
        };
        let key = &monitor.key;
        if config_changed {
            self.send(&config_topic(&self.install, monitor.id), config, true);
            self.announced
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone(), std::time::Instant::now());
        }
        // Attributes before states: an automation the problem sensor triggers reads the
        // new reason.
        if attributes_changed {
            self.send(&attributes_topic(key), attributes, true);
        }
        if state_changed {
            self.send(&state_topic(key), state, true);
        }
        drop(deleted);
    }

    /// Publishes the add-on's own device (every monitor at a glance), what changed of it.
    pub fn publish_overview(&self, overview: &Overview) {
        let config =
            overview_discovery_config(&self.install, self.configuration_url.as_deref()).to_string();
        let mut state = Map::new();
        for def in OVERVIEW {
            state.insert(def.component.into(), (def.value)(overview));
        }
        let state = Value::Object(state).to_string();
        let attributes = Value::Object(overview_attributes(overview)).to_string();
        let changes = {
            let mut last = self.overview.lock().unwrap_or_else(|p| p.into_inner());
            let changes = (
                last.config != config,
                last.attributes != attributes,
                last.state != state,
            );
            *last = Published {
                config: config.clone(),
                state: state.clone(),
                attributes: attributes.clone(),
            };
            changes
        };
        let topic = |what: &str| format!("kopia_webhook/{}/overview/{what}", self.install);
        if changes.0 {
            self.send(&overview_config_topic(&self.install), config, true);
        }
        if changes.1 {
            self.send(&topic("attributes"), attributes, true);
        }
        if changes.2 {
            self.send(&topic("state"), state, true);
        }
    }

    /// Removes the monitor's device from Home Assistant and its retained values from the
    /// broker; with the broker away, as soon as it is back.
    pub fn remove_monitor(&self, monitor_id: i64, key: &MonitorKey) {
        let mut deleted = self.deleted.lock().unwrap_or_else(|p| p.into_inner());
        deleted.insert(monitor_id);
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&monitor_id);
        self.removals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(monitor_id, key.clone());
        self.queue_removals();
        drop(deleted);
    }

    /// Queues the empty retained messages of deleted monitors; what does not fit waits.
    fn queue_removals(&self) {
        if !self.status().connected {
            return;
        }
        let mut removals = self.removals.lock().unwrap_or_else(|p| p.into_inner());
        removals.retain(|monitor_id, key| {
            let topics = [
                config_topic(&self.install, *monitor_id),
                state_topic(key),
                attributes_topic(key),
            ];
            let queued = topics.iter().all(|topic| {
                self.client
                    .try_publish(topic.as_str(), QoS::AtLeastOnce, true, "")
                    .is_ok()
            });
            !queued
        });
    }

    /// One run (or start) for the monitor's event entity; other events fire nothing.
    pub async fn fire_run(&self, key: &MonitorKey, stored: &StoredEvent) {
        // The first report of a new monitor arrives right after its device config: give Core
        // the moment it needs to subscribe to the event topic.
        let announced = self
            .announced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied();
        if let Some(at) = announced {
            let settled = at.elapsed();
            if settled < DISCOVERY_SETTLE {
                tokio::time::sleep(DISCOVERY_SETTLE - settled).await;
            }
        }
        let event = &stored.event;
        let event_type = match (event.kind(), event.status()) {
            (EventKind::Start, _) => "started",
            (EventKind::Run, RunStatus::Success) => "success",
            (EventKind::Run, RunStatus::Failed) => "failed",
            (EventKind::Run, _) => "warning",
            _ => return,
        };
        let payload = json!({
            "event_type": event_type,
            "source": event.source(),
            "host": event.host(),
            "sender": event.sender().as_str(),
            "error": event.error(),
            "size_bytes": event.size_bytes(),
            "duration_s": event.duration_ms().map(|ms| ms as f64 / 1000.0),
            "received_at": stored.received_at.to_string(),
        });
        self.send(&event_topic(key), payload.to_string(), false);
    }

    /// Queues a message without ever waiting: the evaluator and the pusher must not stop
    /// behind a broker that is away. Nothing is queued while disconnected (the connection's
    /// return publishes everything again, newest first); a full queue means the same once it
    /// has room. Events for the event entity sent meanwhile are not kept (Core's own bus
    /// has them).
    fn send(&self, topic: &str, payload: String, retain: bool) {
        use std::sync::atomic::Ordering;
        if !self.status().connected {
            self.forget_published();
            return;
        }
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            tracing::debug!(topic, error = %e, "MQTT queue full: everything is published again once it has room");
            self.forget_published();
            self.resend.store(true, Ordering::Relaxed);
        }
    }

    /// The subscription to Core's birth message and `online`, queued without waiting; kept
    /// for later while the queue is full.
    fn announce(&self) {
        let subscribed = self.client.try_subscribe(BIRTH_TOPIC, QoS::AtLeastOnce);
        let online = subscribed.and_then(|()| {
            self.client.try_publish(
                availability_topic(&self.install),
                QoS::AtLeastOnce,
                true,
                "online",
            )
        });
        self.announce
            .store(online.is_err(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Everything is sent again (a new connection, Core's birth message).
    fn forget_published(&self) {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        *self.overview.lock().unwrap_or_else(|p| p.into_inner()) = Published::default();
    }
}

/// Polls the connection; reconnects with backoff (1 s doubling to a minute).
async fn run(mqtt: Arc<Mqtt>, mut eventloop: rumqttc::EventLoop, republish: impl Fn()) {
    use std::sync::atomic::Ordering;
    let mut delay = Duration::from_secs(1);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                delay = Duration::from_secs(1);
                {
                    let mut link = mqtt.link.lock().unwrap_or_else(|p| p.into_inner());
                    if !link.connected {
                        tracing::info!(broker = %link.broker, "MQTT broker connected: entities through MQTT discovery");
                    }
                    link.connected = true;
                    link.error = None;
                    link.since = Some(Timestamp::now());
                }
                // Sessions are clean: subscribe again on every connection.
                mqtt.announce();
                mqtt.queue_removals();
                mqtt.forget_published();
                mqtt.resend.store(false, Ordering::Relaxed);
                republish();
            }
            Ok(Event::Incoming(Packet::Publish(message)))
                if message.topic == BIRTH_TOPIC && message.payload.as_ref() == b"online" =>
            {
                tracing::info!("Home Assistant (re)started: publishing every entity again");
                mqtt.forget_published();
                republish();
            }
            Ok(_) => {
                // Whatever did not fit in the queue, now that it drains.
                if mqtt.announce.load(Ordering::Relaxed) {
                    mqtt.announce();
                }
                if mqtt.resend.swap(false, Ordering::Relaxed) {
                    republish();
                }
                let waiting = !mqtt
                    .removals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty();
                if waiting {
                    mqtt.queue_removals();
                }
            }
            Err(error) => {
                mqtt.set_error(describe(&error));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

fn describe(error: &rumqttc::ConnectionError) -> String {
    use rumqttc::ConnectionError;
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => "the broker refused the user name or password".to_owned(),
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection ({code:?})")
        }
        ConnectionError::Io(e) => format!("cannot reach the broker: {e}"),
        other => other.to_string(),
    }
}

pub fn config_topic(install: &str, monitor_id: i64) -> String {
    format!(
        "{DISCOVERY_PREFIX}/device/{}/config",
        super::catalogue::device_id(install, monitor_id)
    )
}

fn state_topic(key: &MonitorKey) -> String {
    format!("kopia_webhook/{key}/state")
}

fn attributes_topic(key: &MonitorKey) -> String {
    format!("kopia_webhook/{key}/attributes")
}

fn event_topic(key: &MonitorKey) -> String {
    format!("kopia_webhook/{key}/event")
}

/// The device discovery message: one device, every entity of the catalogue.
pub fn discovery_config(
    install: &str,
    monitor: &Monitor,
    summary: &MonitorSummary,
    model: &str,
    configuration_url: Option<&str>,
) -> Value {
    let key = &monitor.key;
    let mut device = json!({
        "ids": [super::catalogue::device_id(install, monitor.id)],
        "name": monitor.name.as_str(),
        "mf": "Kopia Webhook Status",
        "mdl": model,
        "sw": env!("CARGO_PKG_VERSION"),
    });
    if let Some(url) = configuration_url {
        device["cu"] = json!(url);
    }
    let mut components = Map::new();
    for def in CATALOGUE.iter().filter(|d| d.is_shown(summary)) {
        let mut c = Map::new();
        c.insert("p".into(), json!(def.platform.as_str()));
        c.insert("uniq_id".into(), json!(def.unique_id(install, monitor)));
        c.insert("def_ent_id".into(), json!(def.entity_id(key)));
        // `null`: the entity is named after the device (the main sensor).
        c.insert(
            "name".into(),
            def.name.map_or(Value::Null, |n| json!(capitalised(n))),
        );
        if let Some(class) = def.device_class {
            c.insert("dev_cla".into(), json!(class));
        }
        if let Some(unit) = def.unit {
            c.insert("unit_of_meas".into(), json!(unit));
        }
        if let Some(state_class) = def.state_class {
            c.insert("stat_cla".into(), json!(state_class));
        }
        if let Some(icon) = def.icon {
            c.insert("ic".into(), json!(icon));
        }
        c.insert("qos".into(), json!(1));
        match def.platform {
            Platform::Event => {
                c.insert("evt_typ".into(), json!(EVENT_TYPES));
                c.insert("stat_t".into(), json!(event_topic(key)));
            }
            Platform::BinarySensor => {
                c.insert(
                    "val_tpl".into(),
                    json!(format!("{{{{ value_json.{} }}}}", def.component)),
                );
                c.insert("pl_on".into(), json!("on"));
                c.insert("pl_off".into(), json!("off"));
            }
            Platform::Sensor => {
                c.insert(
                    "val_tpl".into(),
                    json!(format!("{{{{ value_json.{} }}}}", def.component)),
                );
                if def.component == STATUS {
                    c.insert("ops".into(), json!(STATUS_OPTIONS));
                    c.insert("json_attr_t".into(), json!(attributes_topic(key)));
                }
            }
        }
        components.insert(def.component.into(), Value::Object(c));
    }
    json!({
        "dev": device,
        "o": {"name": "Kopia Webhook Status", "sw": env!("CARGO_PKG_VERSION"), "url": ORIGIN_URL},
        "avty": [{"t": availability_topic(install)}],
        "stat_t": state_topic(key),
        "cmps": components,
    })
}

/// The add-on's own device: the overview's entities, named after the add-on.
pub fn overview_config_topic(install: &str) -> String {
    format!(
        "{DISCOVERY_PREFIX}/device/{}/config",
        super::catalogue::addon_device_id(install)
    )
}

/// The discovery message of the add-on's own device (see [`OVERVIEW`]).
pub fn overview_discovery_config(install: &str, configuration_url: Option<&str>) -> Value {
    let mut device = json!({
        "ids": [super::catalogue::addon_device_id(install)],
        "name": "Kopia Webhook Status",
        "mf": "Kopia Webhook Status",
        "mdl": "Every backup at a glance",
        "sw": env!("CARGO_PKG_VERSION"),
    });
    if let Some(url) = configuration_url {
        device["cu"] = json!(url);
    }
    let mut components = Map::new();
    for def in OVERVIEW {
        let mut c = Map::new();
        c.insert("p".into(), json!(def.platform.as_str()));
        c.insert("uniq_id".into(), json!(def.overview_unique_id(install)));
        c.insert("def_ent_id".into(), json!(def.overview_entity_id()));
        c.insert("name".into(), json!(def.overview_name()));
        for (name, value) in [
            ("dev_cla", def.device_class),
            ("unit_of_meas", def.unit),
            ("stat_cla", def.state_class),
            ("ic", def.icon),
        ] {
            if let Some(value) = value {
                c.insert(name.into(), json!(value));
            }
        }
        c.insert("qos".into(), json!(1));
        c.insert(
            "val_tpl".into(),
            json!(format!("{{{{ value_json.{} }}}}", def.component)),
        );
        if def.platform == Platform::BinarySensor {
            c.insert("pl_on".into(), json!("on"));
            c.insert("pl_off".into(), json!("off"));
        }
        c.insert(
            "json_attr_t".into(),
            json!(format!("kopia_webhook/{install}/overview/attributes")),
        );
        components.insert(def.component.into(), Value::Object(c));
    }
    json!({
        "dev": device,
        "o": {"name": "Kopia Webhook Status", "sw": env!("CARGO_PKG_VERSION"), "url": ORIGIN_URL},
        "avty": [{"t": availability_topic(install)}],
        "stat_t": format!("kopia_webhook/{install}/overview/state"),
        "cmps": components,
    })
}

/// The values of every entity but the event, as one retained JSON message.
pub fn state_payload(summary: &MonitorSummary) -> Value {
    let mut state = Map::new();
    for def in CATALOGUE.iter().filter(|d| d.platform != Platform::Event) {
        state.insert(def.component.into(), (def.value)(summary));
    }
    Value::Object(state)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MonitorName, MonitorRuns, Origin, Slug, WebhookId};

    fn monitor() -> Monitor {
        Monitor {
            id: 7,
            key: MonitorKey::parse("nas").unwrap(),
            slug: Slug::parse("nas").unwrap(),
            unseen: false,
            name: MonitorName::parse("NAS").unwrap(),
            webhook_id: WebhookId::generate(),
            secret: None,
            history_limit: crate::domain::HistoryLimit::default(),
            origin: Origin::Ui,
            created_at: Timestamp::UNIX_EPOCH,
            schedule: None,
            grace: crate::domain::Grace::DEFAULT,
            shrink: crate::domain::ShrinkRule::DEFAULT,
            no_success: crate::domain::NoSuccessAlert::Auto,
            unusual_durations: true,
            pause: crate::domain::Pause::default(),
            not_verified_after: None,
        }
    }

    #[test]
    fn one_device_with_every_entity_of_the_catalogue() {
        let summary = MonitorSummary::from_runs(MonitorRuns::default());
        let config = discovery_config(
            "3f9a",
            &monitor(),
            &summary,
            "Kopia reports",
            Some("homeassistant://hassio/ingress/x_kopia_webhook"),
        );
        assert_eq!(config["dev"]["ids"][0], "kopia_webhook_3f9a_7");
        assert_eq!(config["dev"]["name"], "NAS");
        assert_eq!(config["o"]["name"], "Kopia Webhook Status");
        let components = config["cmps"].as_object().unwrap();
        assert_eq!(
            components.len(),
            CATALOGUE.len() - 1,
            "every entity but last verified: no check arrived"
        );
        let status = &components["status"];
        assert_eq!(status["def_ent_id"], "sensor.kopia_nas");
        assert_eq!(status["uniq_id"], "kopia_webhook_3f9a_7_status");
        assert!(status["name"].is_null());
        assert_eq!(status["dev_cla"], "enum");
        assert_eq!(components["size"]["unit_of_meas"], "B");
        assert_eq!(components["runs"]["p"], "event");
        assert_eq!(components["runs"]["stat_t"], "kopia_webhook/nas/event");
        assert_eq!(
            components["problem"]["def_ent_id"],
            "binary_sensor.kopia_nas_problem"
        );
        // Nothing yet: no status value (unknown), the problem sensor off.
        let state = state_payload(&summary);
        assert!(state["status"].is_null());
        assert_eq!(state["problem"], "off");
    }
}

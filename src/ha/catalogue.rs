//! Every entity a monitor has, defined once: its ID, name, device class, unit and how its
//! value is read from the monitor. Rendered to Core's REST states (`entities.rs`) and to
//! MQTT discovery (`mqtt.rs`); adding an entity means adding one entry here. The add-on's
//! own entities, the overview of every monitor, are defined the same way ([`OVERVIEW`]).

use serde_json::Value;

use crate::domain::{Monitor, MonitorKey, MonitorStatus, MonitorSummary, OVERVIEW_KEY, Overview};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Sensor,
    BinarySensor,
    /// Fires on every run (MQTT only: Core's REST API has no event entities).
    Event,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sensor => "sensor",
            Self::BinarySensor => "binary_sensor",
            Self::Event => "event",
        }
    }
}

/// One entity of every monitor (`S`: what its value is read from; the overview's entities
/// read the [`Overview`]).
#[derive(Debug)]
pub struct EntityDef<S: 'static = MonitorSummary> {
    /// Stable: part of the unique ID and of the MQTT component ID.
    pub component: &'static str,
    pub platform: Platform,
    /// After `kopia_<key>` in the entity ID.
    pub suffix: &'static str,
    /// `None`: the monitor's own name (the main entity).
    pub name: Option<&'static str>,
    pub device_class: Option<&'static str>,
    pub unit: Option<&'static str>,
    pub state_class: Option<&'static str>,
    pub icon: Option<&'static str>,
    /// The state, as JSON: `null` when there is none yet (shown as unknown).
    pub value: fn(&S) -> Value,
    /// Only for some: `None`, every one has it.
    pub shown_if: Option<fn(&S) -> bool>,
}

/// The main entity's component: the monitor's status, with every attribute.
pub const STATUS: &str = "status";
/// The problem sensor's component.
pub const PROBLEM: &str = "problem";

/// The states of the status sensor (an enum sensor over MQTT). "Nothing yet" is no state.
pub const STATUS_OPTIONS: &[&str] = &[
    "success", "warning", "failed", "overdue", "running", "paused",
];

/// What the event entity fires: each run's outcome, and a start.
pub const EVENT_TYPES: &[&str] = &["success", "warning", "failed", "started"];

pub const CATALOGUE: &[EntityDef] = &[
    EntityDef {
        component: STATUS,
        platform: Platform::Sensor,
        suffix: "",
        name: None,
        device_class: Some("enum"),
        unit: None,
        state_class: None,
        icon: Some("mdi:backup-restore"),
        value: |summary| match summary.status {
            MonitorStatus::Unknown => Value::Null,
            status => Value::from(status.as_str()),
        },
        shown_if: None,
    },
    EntityDef {
        component: "last_success",
        platform: Platform::Sensor,
        suffix: "_last_success",
        name: Some("last success"),
        device_class: Some("timestamp"),
        unit: None,
        state_class: None,
        icon: Some("mdi:calendar-check"),
        value: |summary| {
            summary
                .last_success
                .as_ref()
                .map_or(Value::Null, |e| Value::from(iso_with_offset(e.ended_at())))
        },
        shown_if: None,
    },
    EntityDef {
        component: "size",
        platform: Platform::Sensor,
        suffix: "_size",
        name: Some("size"),
        device_class: Some("data_size"),
        unit: Some("B"),
        state_class: Some("measurement"),
        icon: Some("mdi:harddisk"),
        value: |summary| {
            summary
                .last_good(|e| e.size_bytes())
                .map_or(Value::Null, Value::from)
        },
        shown_if: None,
    },
    EntityDef {
        component: "duration",
        platform: Platform::Sensor,
        suffix: "_duration",
        name: Some("duration"),
        device_class: Some("duration"),
        unit: Some("s"),
        state_class: Some("measurement"),
        icon: Some("mdi:timer-outline"),
        value: |summary| {
            summary
                .last_good(|e| e.duration_ms())
                .map_or(Value::Null, |ms| Value::from(ms as f64 / 1000.0))
        },
        shown_if: None,
    },
    EntityDef {
        component: "last_verified",
        platform: Platform::Sensor,
        suffix: "_last_verified",
        name: Some("last verified"),
        device_class: Some("timestamp"),
        unit: None,
        state_class: None,
        icon: Some("mdi:shield-check"),
        value: |summary| {
            summary
                .last_verified
                .map_or(Value::Null, |at| Value::from(iso_with_offset(at)))
        },
        // Only where checks of the backups arrive (verify jobs, borgmatic's check).
        shown_if: Some(|summary| summary.last_check.is_some()),
    },
    EntityDef {
        component: PROBLEM,
        platform: Platform::BinarySensor,
        suffix: "_problem",
        name: Some("problem"),
        device_class: Some("problem"),
        unit: None,
        state_class: None,
        icon: None,
        value: |summary| {
            Value::from(if summary.status.is_problem() {
                "on"
            } else {
                "off"
            })
        },
        shown_if: None,
    },
    EntityDef {
        component: "runs",
        platform: Platform::Event,
        suffix: "_runs",
        name: Some("runs"),
        device_class: None,
        unit: None,
        state_class: None,
        icon: Some("mdi:history"),
        value: |_| Value::Null,
        shown_if: None,
    },
];

impl<S> EntityDef<S> {
    /// `sensor.kopia_server_one_size`.
    pub fn entity_id(&self, key: &MonitorKey) -> String {
        format!("{}.kopia_{key}{}", self.platform.as_str(), self.suffix)
    }
}

/// The overview's components: the monitors counted by status, and whether any has a problem.
pub const OVERVIEW_COUNT: &str = "backups";
pub const OVERVIEW_PROBLEM: &str = "backups_problem";

/// The add-on's own entities, on a device of the add-on: every monitor at a glance.
pub const OVERVIEW: &[EntityDef<Overview>] = &[
    EntityDef {
        component: OVERVIEW_COUNT,
        platform: Platform::Sensor,
        suffix: "",
        name: Some("backups"),
        device_class: None,
        unit: Some("monitors"),
        state_class: Some("measurement"),
        icon: Some("mdi:backup-restore"),
        value: |overview| Value::from(overview.len()),
        shown_if: None,
    },
    EntityDef {
        component: OVERVIEW_PROBLEM,
        platform: Platform::BinarySensor,
        suffix: "_problem",
        name: Some("backup problem"),
        device_class: Some("problem"),
        unit: None,
        state_class: None,
        icon: None,
        value: |overview| Value::from(if overview.has_problem() { "on" } else { "off" }),
        shown_if: None,
    },
];

impl EntityDef<Overview> {
    /// `sensor.kopia_backups`, `binary_sensor.kopia_backups_problem`.
    pub fn overview_entity_id(&self) -> String {
        format!(
            "{}.kopia_{OVERVIEW_KEY}{}",
            self.platform.as_str(),
            self.suffix
        )
    }

    /// `kopia_webhook_3f9a_backups_problem`: on the add-on's device.
    pub fn overview_unique_id(&self, install: &str) -> String {
        format!("{}_{}", addon_device_id(install), self.component)
    }

    /// `Backup problem`: the device is the add-on, the name says the rest.
    pub fn overview_name(&self) -> String {
        let name = self.name.unwrap_or(self.component);
        let mut chars = name.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

/// The add-on's own device, as MQTT discovery names it: `kopia_webhook_3f9a`.
pub fn addon_device_id(install: &str) -> String {
    format!("kopia_webhook_{install}")
}

impl EntityDef {
    /// Stable across renames, never reused (monitor IDs are not), and apart from another
    /// install's (a reinstall starts its monitor IDs again at 1): `kopia_webhook_3f9a_7_size`.
    pub fn unique_id(&self, install: &str, monitor: &Monitor) -> String {
        format!("{}_{}", device_id(install, monitor.id), self.component)
    }

    /// The friendly name REST states carry: `Server One size`.
    pub fn friendly_name(&self, monitor: &Monitor) -> String {
        match self.name {
            Some(name) => format!("{} {name}", monitor.name.as_str()),
            None => monitor.name.as_str().to_owned(),
        }
    }
}

impl<S> EntityDef<S> {
    /// Whether this entity belongs to what `subject` shows.
    pub fn is_shown(&self, subject: &S) -> bool {
        self.shown_if.is_none_or(|shown| shown(subject))
    }
}

/// The entities Core's REST API can hold (no event entities there).
pub fn rest_entities() -> impl Iterator<Item = &'static EntityDef> {
    CATALOGUE.iter().filter(|d| d.platform != Platform::Event)
}

/// The monitor's device, as MQTT discovery names it: `kopia_webhook_3f9a_7`.
pub fn device_id(install: &str, monitor_id: i64) -> String {
    format!("kopia_webhook_{install}_{monitor_id}")
}

/// Every entity ID a monitor shows in REST mode.
pub fn entity_ids(key: &MonitorKey, summary: &MonitorSummary) -> Vec<String> {
    rest_entities()
        .filter(|d| d.is_shown(summary))
        .map(|d| d.entity_id(key))
        .collect()
}

/// The way entities reach Home Assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntitiesPath {
    /// MQTT discovery: a device per monitor.
    Mqtt,
    /// Core's REST states.
    Rest,
    /// No Home Assistant to push to.
    Off,
}

impl EntitiesPath {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::Rest => "rest",
            Self::Off => "off",
        }
    }
}

/// Every entity ID a monitor shows on this path (MQTT adds the event entity).
pub fn entity_ids_on(
    path: EntitiesPath,
    key: &MonitorKey,
    summary: &MonitorSummary,
) -> Vec<String> {
    match path {
        EntitiesPath::Mqtt => CATALOGUE
            .iter()
            .filter(|d| d.is_shown(summary))
            .map(|d| d.entity_id(key))
            .collect(),
        EntitiesPath::Rest | EntitiesPath::Off => entity_ids(key, summary),
    }
}

/// The main entity's ID, `sensor.kopia_<key>` (what the reconciler checks).
pub fn main_entity_id(key: &MonitorKey) -> String {
    CATALOGUE[0].entity_id(key)
}

/// ISO 8601 with an explicit offset, as Home Assistant's timestamp sensors want it.
pub fn iso_with_offset(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_and_entity_ids_are_unique() {
        let key = MonitorKey::parse("nas").unwrap();
        let mut components: Vec<_> = CATALOGUE.iter().map(|d| d.component).collect();
        let mut ids: Vec<_> = CATALOGUE.iter().map(|d| d.entity_id(&key)).collect();
        components.sort();
        components.dedup();
        ids.sort();
        ids.dedup();
        assert_eq!(components.len(), CATALOGUE.len());
        assert_eq!(ids.len(), CATALOGUE.len());
        assert_eq!(main_entity_id(&key), "sensor.kopia_nas");
    }
}

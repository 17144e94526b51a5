//! The Home Assistant entities a monitor is shown as.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::catalogue::{EntityDef, OVERVIEW, PROBLEM, STATUS, rest_entities};
use crate::domain::{Monitor, MonitorKey, MonitorStatus, MonitorSummary, Overview, StoredEvent};

/// Core's recorder drops all attributes of a state over 16 KiB; stay well below.
pub const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;
const HISTORY_ERROR_CHARS: usize = 200;

/// The body of `POST /api/states/{entity_id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityState {
    pub state: String,
    pub attributes: Map<String, Value>,
}

const MAX_SOURCES: usize = 20;

/// All of a monitor's REST entities, in the catalogue's order.
pub fn render(monitor: &Monitor, summary: &MonitorSummary) -> Vec<(String, EntityState)> {
    rest_entities()
        .filter(|def| def.is_shown(summary))
        .map(|def| {
            let entity_id = def.entity_id(&monitor.key);
            if def.component == STATUS {
                return (entity_id, main_sensor(monitor, summary));
            }
            let mut state = plain_state(def, (def.value)(summary), def.friendly_name(monitor));
            if def.component == PROBLEM {
                state
                    .attributes
                    .insert("status".into(), json!(summary.status.as_str()));
            }
            (entity_id, state)
        })
        .collect()
}

/// The add-on's own REST entities: `sensor.kopia_backups` and its problem sensor, each with
/// the counts and the monitors that have a problem.
pub fn render_overview(overview: &Overview) -> Vec<(String, EntityState)> {
    let attributes = overview_attributes(overview);
    OVERVIEW
        .iter()
        .map(|def| {
            let mut state = plain_state(def, (def.value)(overview), def.overview_name());
            state.attributes.extend(attributes.clone());
            (def.overview_entity_id(), state)
        })
        .collect()
}

/// How many monitors are in each status, and which have a problem and why (worst first).
pub fn overview_attributes(overview: &Overview) -> Map<String, Value> {
    const MAX_PROBLEMS: usize = 30;
    let mut attributes = Map::new();
    for status in MonitorStatus::ALL {
        attributes.insert(status.as_str().into(), json!(overview.count(status)));
    }
    let problems = overview.problems();
    attributes.insert("problem_count".into(), json!(problems.len()));
    let listed: Vec<Value> = problems
        .iter()
        .take(MAX_PROBLEMS)
        .map(|e| {
            json!({
                "monitor": e.key.as_str(),
                "name": e.name,
                "entity_id": super::catalogue::main_entity_id(&e.key),
                "status": e.status.as_str(),
                "reason": e.reason.as_ref().map(|r| r.chars().take(HISTORY_ERROR_CHARS).collect::<String>()),
            })
        })
        .collect();
    attributes.insert("problems".into(), Value::Array(listed));
    // "NAS: failed (disk full); Laptop: overdue": for a notification's message.
    attributes.insert(
        "summary".into(),
        json!(overview.problems_said(MAX_PROBLEMS)),
    );
    while encoded_len(&attributes) > MAX_ATTRIBUTES_BYTES {
        let Some(Value::Array(items)) = attributes.get_mut("problems") else {
            break;
        };
        if items.pop().is_none() {
            break;
        }
    }
    if encoded_len(&attributes) > MAX_ATTRIBUTES_BYTES
        && let Some(Value::String(summary)) = attributes.get_mut("summary")
    {
        *summary = summary.chars().take(1000).collect();
    }
    attributes
}

/// A state and the catalogue's presentation attributes.
fn plain_state<S>(def: &EntityDef<S>, value: Value, friendly_name: String) -> EntityState {
    let state = match value {
        Value::Null => "unknown".to_owned(),
        Value::String(text) => text,
        // `60`, not JSON's `60.0`, as before and as Core shows it.
        Value::Number(n) if n.is_f64() => n.as_f64().unwrap_or_default().to_string(),
        other => other.to_string(),
    };
    let mut attributes = Map::new();
    attributes.insert("friendly_name".into(), json!(friendly_name));
    for (name, value) in [
        ("device_class", def.device_class),
        ("unit_of_measurement", def.unit),
        ("state_class", def.state_class),
        ("icon", def.icon),
    ] {
        if let Some(value) = value {
            attributes.insert(name.into(), json!(value));
        }
    }
    EntityState { state, attributes }
}

fn icon(status: MonitorStatus) -> &'static str {
    match status {
        MonitorStatus::Success => "mdi:backup-restore",
        MonitorStatus::Warning => "mdi:alert",
        MonitorStatus::Failed => "mdi:alert-circle",
        MonitorStatus::Overdue => "mdi:clock-alert",
        MonitorStatus::Running => "mdi:progress-upload",
        MonitorStatus::Unknown => "mdi:help-circle",
        MonitorStatus::Paused => "mdi:pause-circle",
    }
}

/// `sensor.kopia_{key}`: the status, the run that explains it, and a bounded history.
fn main_sensor(monitor: &Monitor, summary: &MonitorSummary) -> EntityState {
    EntityState {
        state: summary.status.as_str().to_owned(),
        attributes: main_attributes(monitor, summary, true),
    }
}

/// The main entity's attributes (REST) or its JSON attributes topic (MQTT, without what
/// Home Assistant sets itself there: friendly name and icon).
pub fn main_attributes(
    monitor: &Monitor,
    summary: &MonitorSummary,
    with_presentation: bool,
) -> Map<String, Value> {
    let headline = summary.headline.as_ref();
    let event = headline.map(|h| &h.event);
    let mut attributes = Map::new();
    if with_presentation {
        attributes.insert("friendly_name".into(), json!(monitor.name.as_str()));
        attributes.insert("icon".into(), json!(icon(summary.status)));
    }
    attributes.insert("sender".into(), json!(event.map(|e| e.sender().as_str())));
    attributes.insert("source".into(), json!(event.and_then(|e| e.source())));
    attributes.insert(
        "last_run_start".into(),
        json!(event.and_then(|e| e.started_at()).map(|t| t.to_string())),
    );
    attributes.insert(
        "last_run_end".into(),
        json!(headline.map(|h| h.ended_at().to_string())),
    );
    attributes.insert(
        "duration_s".into(),
        json!(event.and_then(|e| e.duration_ms()).map(seconds)),
    );
    attributes.insert(
        "size_bytes".into(),
        json!(event.and_then(|e| e.size_bytes())),
    );
    attributes.insert("files".into(), json!(event.and_then(|e| e.files())));
    attributes.insert("directories".into(), json!(event.and_then(|e| e.dirs())));
    attributes.insert("host".into(), json!(event.and_then(|e| e.host())));
    // Names the source: "/home: unable to open repository".
    attributes.insert("error".into(), json!(summary.reason()));
    attributes.insert(
        "last_success".into(),
        json!(
            summary
                .last_success
                .as_ref()
                .map(|e| e.ended_at().to_string())
        ),
    );
    attributes.insert(
        "next_expected".into(),
        json!(summary.next_expected.map(|t| t.to_string())),
    );
    attributes.insert(
        "paused_until".into(),
        json!(summary.paused_until.map(|t| t.to_string())),
    );
    // While a backup reports its progress (Duplicati's live status): percent and phase.
    if let Some(progress) = &summary.progress {
        attributes.insert(
            "progress".into(),
            json!(progress.fraction.map(|f| (f * 1000.0).round() / 10.0)),
        );
        attributes.insert("phase".into(), json!(progress.phase));
        attributes.insert(
            "running_since".into(),
            json!(summary.running_since.map(|t| t.to_string())),
        );
    }
    let sources: Vec<Value> = summary
        .sources
        .iter()
        .take(MAX_SOURCES)
        .map(|e| {
            let success = summary.last_success_of(e.event.source());
            json!({"source": e.event.source(), "status": e.event.status().as_str(),
                   "end": e.ended_at().to_string(),
                   "last_success": success.map(|s| s.ended_at().to_string()),
                   "size_bytes": success.and_then(|s| s.event.size_bytes())})
        })
        .collect();
    attributes.insert("sources".into(), Value::Array(sources));
    let history: Vec<Value> = summary
        .recent
        .iter()
        .take(monitor.history_limit.get())
        .map(history_entry)
        .collect();
    attributes.insert("history".into(), Value::Array(history));
    fit_attributes(&mut attributes);
    attributes
}

/// The Core event fired for every received event, for automations.
pub const EVENT_TYPE: &str = "kopia_webhook_event";

/// The data of a `kopia_webhook_event`: the normalised event (no secrets, no raw body).
pub fn event_data(key: &MonitorKey, name: &str, stored: &StoredEvent) -> String {
    let event = &stored.event;
    json!({
        "monitor": key.as_str(),
        "name": name,
        "entity_id": super::catalogue::main_entity_id(key),
        "received_at": stored.received_at.to_string(),
        "sender": event.sender().as_str(),
        "kind": event.kind().as_str(),
        "status": event.status().as_str(),
        "source": event.source(),
        "host": event.host(),
        "started_at": event.started_at().map(|t| t.to_string()),
        "finished_at": event.finished_at().map(|t| t.to_string()),
        "duration_s": event.duration_ms().map(seconds),
        "size_bytes": event.size_bytes(),
        "files": event.files(),
        "directories": event.dirs(),
        "error": event.error(),
    })
    .to_string()
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn history_entry(stored: &StoredEvent) -> Value {
    let e = &stored.event;
    let mut entry = Map::new();
    entry.insert("status".into(), json!(e.status().as_str()));
    let mut put = |name: &str, value: Value| {
        if !value.is_null() {
            entry.insert(name.into(), value);
        }
    };
    put("source", json!(e.source()));
    put("start", json!(e.started_at().map(|t| t.to_string())));
    put("end", json!(stored.ended_at().to_string()));
    put("duration_s", json!(e.duration_ms().map(seconds)));
    put("size_bytes", json!(e.size_bytes()));
    put("files", json!(e.files()));
    put("directories", json!(e.dirs()));
    put(
        "error",
        json!(
            e.error()
                .map(|err| err.chars().take(HISTORY_ERROR_CHARS).collect::<String>())
        ),
    );
    Value::Object(entry)
}

fn encoded_len(attributes: &Map<String, Value>) -> usize {
    serde_json::to_vec(attributes).map_or(usize::MAX, |v| v.len())
}

/// Drops the oldest history entries, then shortens the error, until the attributes fit.
fn fit_attributes(attributes: &mut Map<String, Value>) {
    // The oldest history entries go first, then the sources at the end of the list.
    for list in ["history", "sources"] {
        while encoded_len(attributes) > MAX_ATTRIBUTES_BYTES {
            let Some(Value::Array(items)) = attributes.get_mut(list) else {
                break;
            };
            if items.pop().is_none() {
                break;
            }
        }
    }
    if encoded_len(attributes) > MAX_ATTRIBUTES_BYTES
        && let Some(Value::String(error)) = attributes.get_mut("error")
    {
        *error = error.chars().take(500).collect();
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::{EventKind, HistoryLimit, MonitorName, RunStatus, SenderKind, WebhookId};
    use crate::domain::{MonitorRuns, Origin};

    fn monitor(limit: i64) -> Monitor {
        Monitor {
            id: 1,
            key: MonitorKey::parse("server_one").unwrap(),
            slug: crate::domain::Slug::parse("server-one").unwrap(),
            unseen: false,
            name: MonitorName::parse("Server One").unwrap(),
            webhook_id: WebhookId::generate(),
            secret: None,
            history_limit: HistoryLimit::parse(limit).unwrap(),
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

    fn run(id: i64, status: RunStatus, error: Option<String>) -> StoredEvent {
        StoredEvent::from_row(
            id,
            Timestamp::from_second(1_700_000_000 + id).unwrap(),
            SenderKind::named("kopia"),
            EventKind::Run,
            status,
            Some(format!("/data/{id}")),
            Some(Timestamp::from_second(1_700_000_000).unwrap()),
            Some(Timestamp::from_second(1_700_000_060).unwrap()),
            Some(60_000),
            Some(1_000_000),
            Some(10),
            Some(2),
            error,
        )
    }

    /// A success (run 1), then a failure with "disk full" (run 2).
    fn failed_after_a_success() -> MonitorSummary {
        MonitorSummary::from_runs(MonitorRuns {
            latest_per_source: vec![run(2, RunStatus::Failed, Some("disk full".into()))],
            recent: vec![
                run(2, RunStatus::Failed, Some("disk full".into())),
                run(1, RunStatus::Success, None),
            ],
            last_success: Some(run(1, RunStatus::Success, None)),
            ..Default::default()
        })
    }

    #[test]
    fn main_sensor_carries_the_headline_run() {
        let summary = failed_after_a_success();
        let entity = main_sensor(&monitor(10), &summary);
        assert_eq!(entity.state, "failed");
        let a = &entity.attributes;
        assert_eq!(a["friendly_name"], "Server One");
        assert_eq!(
            a["error"], "/data/2: disk full",
            "the error names its source"
        );
        assert_eq!(a["duration_s"], 60.0);
        assert_eq!(a["size_bytes"], 1_000_000);
        assert_eq!(a["directories"], 2);
        assert_eq!(a["last_success"], "2023-11-14T22:14:20Z");
        assert_eq!(a["history"].as_array().unwrap().len(), 2);
        assert_eq!(a["history"][0]["status"], "failed");
    }

    #[test]
    fn a_failed_run_does_not_make_the_size_zero() {
        let mut failed = run(3, RunStatus::Failed, Some("disk not mounted".into()));
        failed.event = failed.event.clone().with_size_bytes(0).with_duration_ms(10);
        let summary = MonitorSummary::from_runs(MonitorRuns {
            latest_per_source: vec![failed.clone()],
            recent: vec![failed, run(1, RunStatus::Success, None)],
            last_success: Some(run(1, RunStatus::Success, None)),
            ..Default::default()
        });
        let entities = render(&monitor(10), &summary);
        let state = |id: &str| {
            entities
                .iter()
                .find(|(e, _)| e == id)
                .unwrap()
                .1
                .state
                .clone()
        };
        assert_eq!(state("sensor.kopia_server_one_size"), "1000000");
        assert_eq!(state("sensor.kopia_server_one_duration"), "60");
    }

    #[test]
    fn many_long_sources_are_cut_too() {
        let long = |id: i64| {
            let mut e = run(id, RunStatus::Success, None);
            e.event = e
                .event
                .clone()
                .with_source(&format!("/{}/{id}", "é".repeat(290)));
            e
        };
        let sources: Vec<_> = (0..40).map(long).collect();
        let runs = MonitorRuns {
            latest_per_source: sources.clone(),
            recent: sources,
            ..Default::default()
        };
        let entity = main_sensor(&monitor(40), &MonitorSummary::from_runs(runs));
        assert!(serde_json::to_vec(&entity.attributes).unwrap().len() <= MAX_ATTRIBUTES_BYTES);
        assert!(!entity.attributes["sources"].as_array().unwrap().is_empty());
    }

    #[test]
    fn every_entity_of_a_monitor_is_rendered_with_its_device_class() {
        let summary = failed_after_a_success();
        let m = monitor(10);
        let entities = render(&m, &summary);
        let ids: Vec<_> = entities.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, crate::ha::entity_ids(&m.key, &summary));
        let by_id = |id: &str| &entities.iter().find(|(e, _)| e == id).unwrap().1;
        let last_success = by_id("sensor.kopia_server_one_last_success");
        assert_eq!(last_success.state, "2023-11-14T22:14:20.000+00:00");
        assert_eq!(last_success.attributes["device_class"], "timestamp");
        let size = by_id("sensor.kopia_server_one_size");
        assert_eq!(size.state, "1000000");
        assert_eq!(size.attributes["unit_of_measurement"], "B");
        assert_eq!(size.attributes["state_class"], "measurement");
        let duration = by_id("sensor.kopia_server_one_duration");
        assert_eq!(duration.state, "60");
        assert_eq!(duration.attributes["device_class"], "duration");
        let problem = by_id("binary_sensor.kopia_server_one_problem");
        assert_eq!(problem.state, "on");
        assert_eq!(problem.attributes["device_class"], "problem");
        let main = by_id("sensor.kopia_server_one");
        assert_eq!(main.attributes["sources"][0]["status"], "failed");
        assert!(main.attributes["next_expected"].is_null());
    }

    #[test]
    fn history_is_bounded_by_count_and_by_bytes() {
        let many: Vec<_> = (0..40)
            .rev()
            .map(|i| run(i, RunStatus::Failed, Some("x".repeat(1000))))
            .collect();
        let runs = MonitorRuns {
            latest_per_source: vec![many[0].clone()],
            recent: many,
            ..Default::default()
        };
        let summary = MonitorSummary::from_runs(runs);
        let five = main_sensor(&monitor(5), &summary);
        assert_eq!(five.attributes["history"].as_array().unwrap().len(), 5);
        let forty = main_sensor(&monitor(40), &summary);
        let kept = forty.attributes["history"].as_array().unwrap().len();
        assert!(kept < 40 && kept > 5, "kept {kept}");
        assert!(serde_json::to_vec(&forty.attributes).unwrap().len() <= MAX_ATTRIBUTES_BYTES);
        assert_eq!(
            forty.attributes["history"][0]["source"], "/data/39",
            "newest first"
        );
    }
}

//! JSON with documented field names, for any tool with a template: the Kopia JSON template
//! from the old "Kopia Webhook Status" integration (`path`, `status`, `startTime`, …), scripts
//! and curl (`status`, `source`, `started_at`, `duration_s`, `size_bytes`, …). Values may be
//! numbers or strings; an array of objects gives one event per object.

use serde_json::{Map, Value};

use super::fields::{
    milliseconds, parse_count, parse_go_duration_ms, parse_size, parse_time, seconds_to_ms,
};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("generic");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "JSON",
    sniffer: Some(&GenericJson),
};

pub struct GenericJson;

const KNOWN_FIELDS: &[&str] = &[
    "status",
    "source",
    "path",
    "job",
    "started_at",
    "startTime",
    "finished_at",
    "endTime",
    "duration",
    "duration_s",
    "duration_ms",
    "size",
    "size_bytes",
    "error",
    "kind",
];

impl Sender for GenericJson {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let objects: Vec<&Map<String, Value>> = match inbound.json()? {
            Value::Object(object) => vec![object],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => return None,
        };
        if objects.is_empty() || !objects.iter().all(|o| is_generic(o)) {
            return None;
        }
        Some(objects.into_iter().map(|o| to_event(o, inbound)).collect())
    }
}

/// A generic report says at least how it went or what it was about.
fn is_generic(object: &Map<String, Value>) -> bool {
    let known = KNOWN_FIELDS
        .iter()
        .filter(|f| object.contains_key(**f))
        .count();
    known >= 1 && (object.contains_key("status") || object.contains_key("kind") || known >= 2)
}

fn to_event(
    object: &Map<String, Value>,
    inbound: &Inbound<'_>,
) -> Result<BackupEvent, SenderError> {
    let text = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|name| match object.get(*name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    };
    let error = text(&["error", "message"]).filter(|e| e != "<nil>");
    let kind = match text(&["kind"]).as_deref() {
        None | Some("run") | Some("backup") => EventKind::Run,
        Some("start") => EventKind::Start,
        Some("log") => EventKind::Log,
        Some("test") => EventKind::Test,
        Some("check" | "verify") => EventKind::Check,
        Some(other) => {
            return Err(SenderError::Invalid(format!(
                "unknown kind {other:?}: use run, start, log, test or check"
            )));
        }
    };
    let (status, note) = match text(&["status", "result"]) {
        Some(status) => RunStatus::from_report(&status),
        None if error.is_some() => (RunStatus::Failed, None),
        None if kind == EventKind::Test => (RunStatus::Success, None),
        None if matches!(kind, EventKind::Run | EventKind::Check) => (
            RunStatus::Warning,
            Some("the report gives no status: add \"status\": \"success\" or \"failed\"".into()),
        ),
        None => (RunStatus::Unknown, None),
    };
    let time = |names: &[&str]| -> Result<Option<jiff::Timestamp>, SenderError> {
        let Some((name, value)) = names.iter().find_map(|n| object.get(*n).map(|v| (*n, v))) else {
            return Ok(None);
        };
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::Number(n) => n
                .as_i64()
                .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
                .map(Some)
                .ok_or_else(|| SenderError::Invalid(format!("{name} is not a valid Unix time"))),
            Value::String(s) => parse_time(s, inbound.zone()).map(Some).ok_or_else(|| {
                SenderError::Invalid(format!(
                    "{name} {s:?} is not a time: use RFC 3339 such as 2026-01-31T03:00:00Z"
                ))
            }),
            _ => Err(SenderError::Invalid(format!(
                "{name} must be a string or a number"
            ))),
        }
    };
    let started = time(&["started_at", "startTime", "start"])?;
    let finished = time(&["finished_at", "endTime", "end"])?;

    let mut event = BackupEvent::new(KIND, kind, status).with_times(started, finished);
    if let Some(source) = text(&["source", "path", "job", "name"]) {
        event = event.with_source(&source);
    }
    if let Some(ms) = duration_ms(object)? {
        event = event.with_duration_ms(ms);
    }
    if let Some(size) = text(&["size_bytes", "size", "bytes"]) {
        let bytes = parse_size(&size)
            .ok_or_else(|| SenderError::Invalid(format!("size {size:?} is not a size in bytes")))?;
        event = event.with_size_bytes(bytes);
    }
    if let Some(files) = text(&["files"]).and_then(|f| parse_count(&f)) {
        event = event.with_files(files);
    }
    if let Some(dirs) = text(&["dirs", "directories"]).and_then(|d| parse_count(&d)) {
        event = event.with_dirs(dirs);
    }
    // Kopia's JSON template can name the machine (`.Manifest.Source.Host`).
    if let Some(host) = text(&["host", "hostname"]) {
        event = event.with_host(&host);
    }
    if let Some(error) = error {
        event = event.with_error(&error);
    }
    event = event.with_note(note);
    // A report sent twice (a script that retries) is one report: its own ID, else the source
    // and when that run started; with its kind, since a run's start and finish are two
    // reports that may carry the same ID (and runs keep the key they had before kinds
    // were part of it). The ID also pairs each finish with its own start.
    let kind_part = match kind {
        EventKind::Run => String::new(),
        other => format!("{}:", other.as_str()),
    };
    if let Some(id) = text(&["id", "run_id"]) {
        event = event
            .with_dedup_key(format!("generic:id:{kind_part}{id}"))
            .with_run_id(id);
    } else if let (Some(source), Some(start)) = (event.source(), event.started_at()) {
        let key = format!("generic:{kind_part}{source}:{}", start.as_millisecond());
        event = event.with_dedup_key(key);
    }
    Ok(event)
}

fn duration_ms(object: &Map<String, Value>) -> Result<Option<i64>, SenderError> {
    let invalid = |name: &str| {
        SenderError::Invalid(format!(
            "{name} is not a duration: use seconds (90) or Go's form (1m30s)"
        ))
    };
    if let Some(value) = object.get("duration_ms").filter(|v| !v.is_null()) {
        return value
            .as_f64()
            .and_then(milliseconds)
            .map(Some)
            .ok_or_else(|| invalid("duration_ms"));
    }
    for name in ["duration_s", "duration"] {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => {
                return n
                    .as_f64()
                    .and_then(seconds_to_ms)
                    .map(Some)
                    .ok_or_else(|| invalid(name));
            }
            Some(Value::String(s)) if s.trim().is_empty() => {}
            Some(Value::String(s)) => {
                if let Ok(secs) = s.trim().parse::<f64>() {
                    return seconds_to_ms(secs).map(Some).ok_or_else(|| invalid(name));
                }
                return parse_go_duration_ms(s)
                    .map(Some)
                    .ok_or_else(|| invalid(name));
            }
            Some(_) => return Err(invalid(name)),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    fn parse(body: &str) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let zone = TimeZone::UTC;
        GenericJson.parse(&Inbound::new(&[], body.as_bytes(), &zone))
    }

    #[test]
    fn the_old_integrations_kopia_template() {
        // What the template in the "Kopia Webhook Status" README renders (Go prints
        // time.Time with its default layout).
        let body = r#"{
          "path": "/home/me",
          "status": "success",
          "startTime": "2020-01-02 03:04:05 +0000 UTC",
          "endTime": "2020-01-02 03:05:05 +0000 UTC",
          "duration": "1m0s",
          "size": "456",
          "files": "123",
          "directories": "33",
          "error": ""
        }"#;
        let events = parse(body).unwrap().unwrap();
        let e = &events[0];
        assert_eq!(e.source(), Some("/home/me"));
        assert_eq!(e.status(), RunStatus::Success);
        assert_eq!(e.duration_ms(), Some(60_000));
        assert_eq!(
            (e.size_bytes(), e.files(), e.dirs()),
            (Some(456), Some(123), Some(33))
        );
        assert_eq!(e.error(), None);
    }

    #[test]
    fn documented_field_names_with_numbers() {
        let body = r#"{"status":"failed","source":"db","started_at":"2026-01-31T03:00:00Z",
            "duration_s":12.5,"size_bytes":1000,"error":"disk full"}"#;
        let e = &parse(body).unwrap().unwrap()[0];
        assert_eq!(e.status(), RunStatus::Failed);
        assert_eq!(e.duration_ms(), Some(12_500));
        assert_eq!(
            e.finished_at(),
            Some("2026-01-31T03:00:12.5Z".parse().unwrap())
        );
        assert_eq!(e.error(), Some("disk full"));
    }

    #[test]
    fn arrays_give_one_event_each() {
        let events =
            parse(r#"[{"status":"success","source":"a"},{"status":"warning","source":"b"}]"#)
                .unwrap()
                .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].status(), RunStatus::Warning);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let err = parse(r#"{"status":"success","started_at":"last tuesday"}"#)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("started_at"), "{err}");
        let err = parse(r#"{"status":"success","duration_s":-3}"#)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("duration_s"), "{err}");
        let err = parse(r#"{"status":"success","size":"huge"}"#)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("size"), "{err}");
    }

    #[test]
    fn the_same_report_twice_has_the_same_key() {
        let key = |body: &str| {
            parse(body).unwrap().unwrap()[0]
                .dedup_key()
                .map(str::to_owned)
        };
        let with_id = r#"{"status":"success","id":"run-42"}"#;
        assert_eq!(key(with_id).as_deref(), Some("generic:id:run-42"));
        let started = r#"{"status":"success","source":"db","started_at":"2026-01-31T03:00:00Z"}"#;
        assert_eq!(key(started), key(started));
        assert!(key(started).is_some());
        assert_eq!(key(r#"{"status":"success","source":"db"}"#), None);
    }

    #[test]
    fn a_status_nobody_understands_is_a_warning_that_names_it() {
        for (body, shown) in [
            (r#"{"status":"sucess","source":"db"}"#, "sucess"),
            (r#"{"status":true,"source":"db"}"#, "true"),
            (
                r#"{"status":"maybe","source":"db","error":"disk full"}"#,
                "maybe",
            ),
        ] {
            let e = &parse(body).unwrap().unwrap()[0];
            assert_eq!(e.status(), RunStatus::Warning, "{body}");
            let error = e.error().unwrap();
            assert!(
                error.starts_with(&format!("status '{shown}' not understood")),
                "{error}"
            );
        }
        let aborted = &parse(r#"{"status":"aborted","source":"db"}"#)
            .unwrap()
            .unwrap()[0];
        assert_eq!(aborted.status(), RunStatus::Failed);
        let silent = &parse(r#"{"source":"db","size_bytes":5}"#).unwrap().unwrap()[0];
        assert_eq!(silent.status(), RunStatus::Warning);
        assert!(silent.error().unwrap().contains("no status"));
    }

    #[test]
    fn unrelated_json_is_not_claimed() {
        assert!(parse(r#"{"hello":"world"}"#).is_none());
        assert!(parse(r#"[1,2]"#).is_none());
        assert!(parse(r#""status""#).is_none());
    }
}

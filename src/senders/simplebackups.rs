//! SimpleBackups' backup webhook (senders.md §3): one JSON object per run, signed with
//! `SB-Signature` (checked before parsing, in `signature.rs`), retried up to three times.

use super::fields::{json_text, parse_time};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("simplebackups");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "SimpleBackups",
    sniffer: Some(&SimpleBackups),
};

pub struct SimpleBackups;

impl Sender for SimpleBackups {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let json = inbound.json()?;
        let is_simplebackups = json.get("backup").is_some_and(|b| b.is_object())
            && json.get("id").is_some()
            && json.get("started_at").is_some()
            && json.get("status").is_some();
        if !is_simplebackups {
            return None;
        }
        Some(to_event(json, inbound).map(|event| vec![event]))
    }
}

fn to_event(json: &serde_json::Value, inbound: &Inbound<'_>) -> Result<BackupEvent, SenderError> {
    let (status, note) = super::status_or_note(json_text(json, &["status"]).as_deref(), |_| None);
    let time = |field: &str| -> Result<Option<jiff::Timestamp>, SenderError> {
        match json_text(json, &[field]) {
            None => Ok(None),
            Some(text) => parse_time(&text, inbound.zone())
                .map(Some)
                .ok_or_else(|| SenderError::Invalid(format!("{field} {text:?} is not a time"))),
        }
    };
    let kind = match json_text(json, &["type"]).as_deref() {
        None | Some("backup") => EventKind::Run,
        Some(_) => EventKind::Log,
    };
    let mut event = BackupEvent::new(KIND, kind, status)
        .with_times(time("started_at")?, time("finished_at")?)
        .with_note(note);
    if let Some(name) =
        json_text(json, &["backup", "name"]).or_else(|| json_text(json, &["backup", "id"]))
    {
        event = event.with_source(&name);
    }
    if let Some(server) = json_text(json, &["server", "name"]) {
        event = event.with_host(&server);
    }
    if let Some(storage) = json_text(json, &["storage", "name"]) {
        event = event.with_target(&storage);
    }
    if status == RunStatus::Failed {
        let error = json_text(json, &["error"]).or_else(|| json_text(json, &["message"]));
        event = event.with_error(
            error
                .as_deref()
                .unwrap_or("SimpleBackups reported an error"),
        );
    }
    if let Some(id) = json_text(json, &["id"]) {
        event = event.with_dedup_key(format!("simplebackups:{id}"));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/simplebackups");

    fn parse_file(name: &str, zone: &TimeZone) -> BackupEvent {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        SimpleBackups
            .parse(&Inbound::new(&[], &body, zone))
            .unwrap()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_successful_run() {
        let e = parse_file("success.json", &TimeZone::UTC);
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Success));
        assert_eq!(e.source(), Some("Acme Project"));
        assert_eq!(e.host(), Some("Acme Server"));
        assert_eq!(e.target(), Some("Acme Storage"));
        assert_eq!(e.duration_ms(), Some(9 * 60 * 1000));
        assert_eq!(e.dedup_key(), Some("simplebackups:7781234"));
    }

    #[test]
    fn naive_times_are_read_in_the_configured_zone() {
        let e = parse_file("success.json", &TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!(
            e.started_at(),
            Some("2021-12-12T11:12:12Z".parse().unwrap())
        );
    }

    #[test]
    fn an_error_run_fails() {
        let e = parse_file("error.json", &TimeZone::UTC);
        assert_eq!(e.status(), RunStatus::Failed);
        assert!(e.error().is_some());
    }
}

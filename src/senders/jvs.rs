//! JVS webhooks (senders.md §4): `{"event": "snapshot.created", "timestamp": …}`, signed
//! with `X-JVS-Signature: sha256=<hex>`, retried with the same body. The event type is read
//! from the body; the `X-JVS-Event` header carries the whole body again and is ignored.

use super::fields::{body_digest, json_text, parse_time};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("jvs");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "JVS",
    sniffer: Some(&Jvs),
};

pub struct Jvs;

const OPERATIONS: &[&str] = &["snapshot", "restore", "gc", "verify"];

impl Sender for Jvs {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let json = inbound.json()?;
        let name = json_text(json, &["event"])?;
        let (operation, phase) = name.split_once('.')?;
        if !OPERATIONS.contains(&operation) || json.get("timestamp").is_none() {
            return None;
        }
        let (kind, status) = match (operation, phase) {
            ("snapshot", "created") => (EventKind::Run, RunStatus::Success),
            ("snapshot", _) => (EventKind::Log, RunStatus::Unknown),
            // A verify checks the backups: its own clock; its start is no backup running.
            ("verify", "complete") => (EventKind::Check, RunStatus::Success),
            ("verify", "failed") => (EventKind::Check, RunStatus::Failed),
            ("verify", _) => (EventKind::Log, RunStatus::Unknown),
            (_, "start") => (EventKind::Start, RunStatus::Unknown),
            (_, "complete") => (EventKind::Run, RunStatus::Success),
            (_, "failed") => (EventKind::Run, RunStatus::Failed),
            _ => (EventKind::Log, RunStatus::Unknown),
        };
        let at = match json_text(json, &["timestamp"]) {
            Some(text) => match parse_time(&text, inbound.zone()) {
                Some(at) => Some(at),
                None => {
                    return Some(Err(SenderError::Invalid(format!(
                        "timestamp {text:?} is not a time"
                    ))));
                }
            },
            None => None,
        };
        let mut event = BackupEvent::new(KIND, kind, status)
            .with_source(operation)
            .with_dedup_key(format!("jvs:{}", body_digest(inbound.body())));
        event = match kind {
            EventKind::Start => event.with_times(at, None),
            _ => event.with_times(None, at),
        };
        if let Some(repo) =
            json_text(json, &["repo_root"]).or_else(|| json_text(json, &["repo_id"]))
        {
            event = event.with_host(&repo);
        }
        if status == RunStatus::Failed {
            let error =
                json_text(json, &["error"]).unwrap_or_else(|| format!("{name} without a message"));
            event = event.with_error(&error);
        }
        Some(Ok(vec![event]))
    }
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jvs");

    fn parse_file(name: &str) -> BackupEvent {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        Jvs.parse(&Inbound::new(&[], &body, &TimeZone::UTC))
            .unwrap()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn every_event_type_maps() {
        for (name, kind, status) in [
            ("snapshot.created", EventKind::Run, RunStatus::Success),
            ("snapshot.deleted", EventKind::Log, RunStatus::Unknown),
            ("restore.start", EventKind::Start, RunStatus::Unknown),
            ("restore.complete", EventKind::Run, RunStatus::Success),
            ("restore.failed", EventKind::Run, RunStatus::Failed),
            ("gc.start", EventKind::Start, RunStatus::Unknown),
            ("gc.complete", EventKind::Run, RunStatus::Success),
            // A verify checks the backups: its own clock, its start no backup running.
            ("verify.start", EventKind::Log, RunStatus::Unknown),
            ("verify.complete", EventKind::Check, RunStatus::Success),
            ("verify.failed", EventKind::Check, RunStatus::Failed),
        ] {
            let body = format!(
                r#"{{"event":"{name}","timestamp":"2024-02-23T10:00:00Z","repo_id":"r1","error":"boom"}}"#
            );
            let e = Jvs
                .parse(&Inbound::new(&[], body.as_bytes(), &TimeZone::UTC))
                .unwrap()
                .unwrap()
                .remove(0);
            assert_eq!((e.kind(), e.status()), (kind, status), "{name}");
            assert_eq!(e.source(), name.split('.').next());
        }
    }

    #[test]
    fn a_created_snapshot_from_the_docs() {
        let e = parse_file("snapshot-created.json");
        assert_eq!(e.status(), RunStatus::Success);
        assert_eq!(e.host(), Some("/path/to/repo"));
        assert_eq!(
            e.finished_at(),
            Some("2024-02-23T10:00:00Z".parse().unwrap())
        );
        assert!(e.dedup_key().unwrap().starts_with("jvs:"));
    }

    #[test]
    fn a_failed_verify_carries_its_error() {
        let e = parse_file("verify-failed.json");
        assert_eq!(e.status(), RunStatus::Failed);
        assert_eq!(e.error(), Some("checksum mismatch in snapshot abc123"));
    }

    #[test]
    fn other_json_is_not_jvs() {
        let body = br#"{"event":"push","timestamp":"2024-02-23T10:00:00Z"}"#;
        assert!(
            Jvs.parse(&Inbound::new(&[], body, &TimeZone::UTC))
                .is_none()
        );
    }
}

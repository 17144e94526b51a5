//! Proxmox VE / Backup Server webhook targets (senders.md §9). Proxmox has no default body;
//! DOCS.md gives this one, with `Authorization: Bearer {{ secrets.token }}`:
//! `{"title":"{{ escape title }}","message":"{{ escape message }}","severity":"{{ severity }}",
//!   "timestamp":{{ timestamp }},"fields":{{ json fields }}}`

use jiff::Timestamp;

use super::fields::{json_text, parse_size};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("proxmox");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Proxmox",
    sniffer: Some(&Proxmox),
};

pub struct Proxmox;

/// Notification types that are jobs with an outcome; the rest (package updates, fencing,
/// system mail) are information.
const JOBS: &[&str] = &[
    "vzdump",
    "gc",
    "prune",
    "sync",
    "verification",
    "verify",
    "tape-backup",
    "replication",
];

impl Sender for Proxmox {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let json = inbound.json()?;
        let severity = json_text(json, &["severity"])?;
        if json.get("title").is_none() || json.get("message").is_none() {
            return None;
        }
        let (status, note) = super::status_or_note(Some(&severity), |severity| match severity {
            "info" | "notice" => Some(RunStatus::Success),
            "warning" => Some(RunStatus::Warning),
            "error" => Some(RunStatus::Failed),
            _ => None,
        });
        let job_type = json_text(json, &["fields", "type"]);
        let kind = match job_type.as_deref() {
            // Backup Server's verify jobs check the backups rather than make one.
            Some("verify" | "verification") => EventKind::Check,
            Some(t) if JOBS.contains(&t) => EventKind::Run,
            None => EventKind::Run,
            Some(_) => EventKind::Log,
        };
        let message = json_text(json, &["message"]).unwrap_or_default();
        let title = json_text(json, &["title"]).unwrap_or_default();
        let finished = match json.get("timestamp") {
            None => None,
            Some(value) => match value.as_i64().and_then(|s| Timestamp::from_second(s).ok()) {
                Some(at) => Some(at),
                None => {
                    return Some(Err(SenderError::Invalid(
                        "timestamp must be Unix seconds ({{ timestamp }} in the template, without quotes)".into(),
                    )));
                }
            },
        };
        let source = [job_type.clone(), json_text(json, &["fields", "job-id"])]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let mut event = BackupEvent::new(KIND, kind, status)
            .with_source(&source)
            .with_note(note);
        if let Some(host) = json_text(json, &["fields", "hostname"]) {
            event = event.with_host(&host);
        }
        if let Some(datastore) = json_text(json, &["fields", "datastore"]) {
            event = event.with_target(&datastore);
        }
        let duration_ms =
            line_value(&message, "Total running time:").and_then(|d| proxmox_duration_ms(&d));
        match (finished, duration_ms) {
            (Some(end), Some(ms)) => {
                let start = end.checked_sub(jiff::SignedDuration::from_millis(ms)).ok();
                event = event.with_times(start, Some(end));
            }
            (end, _) => event = event.with_times(None, end),
        }
        if let Some(bytes) = line_value(&message, "Total size:").and_then(|s| parse_size(&s)) {
            event = event.with_size_bytes(bytes);
        }
        if status != RunStatus::Success {
            event = event.with_error(&title);
        }
        // A notification Proxmox sends again is the same job at the same time.
        if let Some(at) = finished {
            let key = format!(
                "proxmox:{}:{source}:{}",
                event.host().unwrap_or(""),
                at.as_second()
            );
            event = event.with_dedup_key(key);
        }
        Some(Ok(vec![event]))
    }
}

fn line_value(message: &str, label: &str) -> Option<String> {
    message
        .lines()
        .find_map(|line| line.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
}

/// Proxmox prints durations as `1h 2m 3s`, `5m 10s`, `42s`.
fn proxmox_duration_ms(text: &str) -> Option<i64> {
    let span: jiff::Span = text.trim().parse().ok()?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .ok()?;
    if duration.is_negative() {
        return None;
    }
    super::fields::milliseconds(duration.as_millis() as f64)
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proxmox");

    fn parse_file(name: &str) -> BackupEvent {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        Proxmox
            .parse(&Inbound::new(&[], &body, &TimeZone::UTC))
            .unwrap()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_successful_vzdump() {
        let e = parse_file("vzdump-success.json");
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Success));
        assert_eq!(e.source(), Some("vzdump backup-5b1d2c4e-9f61"));
        assert_eq!(e.host(), Some("pve1"));
        assert_eq!(e.duration_ms(), Some((2 * 60 + 3) * 1000));
        assert_eq!(
            e.finished_at(),
            Some(Timestamp::from_second(1_732_240_923).unwrap())
        );
        assert_eq!(e.size_bytes(), Some(5_261_334_938));
    }

    #[test]
    fn a_failed_vzdump_keeps_its_title_as_the_error() {
        let e = parse_file("vzdump-failed.json");
        assert_eq!(e.status(), RunStatus::Failed);
        assert_eq!(
            e.error(),
            Some("vzdump backup status (pve1.lan): backup failed")
        );
    }

    #[test]
    fn package_updates_are_information() {
        let body = br#"{"title":"New software packages available","message":"...","severity":"info","timestamp":1,"fields":{"type":"package-updates","hostname":"pve1"}}"#;
        let e = Proxmox
            .parse(&Inbound::new(&[], body, &TimeZone::UTC))
            .unwrap()
            .unwrap()
            .remove(0);
        assert_eq!(e.kind(), EventKind::Log);
    }

    #[test]
    fn durations_as_proxmox_prints_them() {
        assert_eq!(proxmox_duration_ms("1h 2m 3s"), Some(3_723_000));
        assert_eq!(proxmox_duration_ms("42s"), Some(42_000));
        assert_eq!(proxmox_duration_ms("later"), None);
    }
}

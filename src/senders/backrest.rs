//! Backrest's notification summary (`{{ .Summary }}`, senders.md §6), the body of its
//! Healthchecks hook and of any hook whose template is left at the default.

use super::fields::{parse_count, parse_go_duration_ms, parse_size};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("backrest");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Backrest",
    sniffer: Some(&Backrest),
};

pub struct Backrest;

impl Sender for Backrest {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let summary = Summary::parse(inbound.text()?)?;
        let (kind, status) = summary.outcome();
        Some(Ok(vec![
            summary.apply(BackupEvent::new(KIND, kind, status)),
        ]))
    }
}

/// What a Backrest summary says.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    /// The whole `Task:` line (plan and time): with the event, what makes a run unique.
    task: Option<String>,
    plan: Option<String>,
    event: Option<String>,
    error: Option<String>,
    bytes: Option<u64>,
    files: Option<u64>,
    duration_ms: Option<i64>,
}

impl Summary {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim_start();
        if !text.starts_with("Backrest ") {
            return None;
        }
        let mut summary = Self::default();
        for line in text.lines() {
            let line = line.trim().trim_start_matches("- ");
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                // `Task: backup for plan "daily" at 2024-11-22T02:00:00Z`
                "Task" => {
                    summary.task = Some(value.to_owned());
                    summary.plan = value.split('"').nth(1).map(str::to_owned).or_else(|| {
                        Some(
                            value
                                .rsplit_once(" at ")
                                .map_or(value, |(t, _)| t)
                                .to_owned(),
                        )
                    });
                }
                "Event" => summary.event = Some(value.to_owned()),
                "Error" => summary.error = Some(value.to_owned()),
                "Total bytes processed" => summary.bytes = parse_size(value),
                "Total files processed" => summary.files = parse_count(value),
                "Total duration" => summary.duration_ms = parse_go_duration_ms(value),
                _ => {}
            }
        }
        Some(summary)
    }

    /// The kind and status its `Event:` line names.
    pub fn outcome(&self) -> (EventKind, RunStatus) {
        let event = self.event.as_deref().unwrap_or_default();
        // `check success`, `check error`: the repository's check, its own clock (its start
        // is no backup running).
        if event.contains("check") {
            return if event.contains("error") || self.error.is_some() {
                (EventKind::Check, RunStatus::Failed)
            } else if event.contains("success") {
                (EventKind::Check, RunStatus::Success)
            } else {
                (EventKind::Log, RunStatus::Unknown)
            };
        }
        if event.contains("error") || self.error.is_some() {
            (EventKind::Run, RunStatus::Failed)
        } else if event.contains("warning") {
            (EventKind::Run, RunStatus::Warning)
        } else if event.contains("start") {
            (EventKind::Start, RunStatus::Unknown)
        } else if event.contains("success") {
            (EventKind::Run, RunStatus::Success)
        } else {
            (EventKind::Log, RunStatus::Unknown)
        }
    }

    /// Adds what the summary knows to an event.
    pub fn apply(&self, mut event: BackupEvent) -> BackupEvent {
        if let Some(plan) = &self.plan {
            event = event.with_source(plan);
        }
        if let Some(bytes) = self.bytes {
            event = event.with_size_bytes(bytes);
        }
        if let Some(files) = self.files {
            event = event.with_files(files);
        }
        if let Some(ms) = self.duration_ms
            && event.duration_ms().is_none()
        {
            event = event.with_duration_ms(ms);
        }
        if let Some(error) = &self.error {
            event = event.with_error(error);
        }
        // Backrest resends a notification its hook failed to deliver: the same task and
        // event are the same run.
        if let Some(task) = &self.task {
            let key = format!(
                "backrest:{task}:{}",
                self.event.as_deref().unwrap_or_default()
            );
            event = event.with_dedup_key(key);
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/backrest");

    fn parse_file(name: &str) -> BackupEvent {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        Backrest
            .parse(&Inbound::new(&[], &body, &TimeZone::UTC))
            .unwrap()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_snapshot_success_summary() {
        let e = parse_file("snapshot-success.txt");
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Success));
        assert_eq!(e.source(), Some("daily-photos"));
        assert_eq!(e.size_bytes(), Some(12_345_000_000));
        assert_eq!(e.files(), Some(15_230));
        assert_eq!(e.duration_ms(), Some(12_345));
    }

    #[test]
    fn the_same_summary_twice_has_one_key() {
        let a = parse_file("snapshot-success.txt");
        assert!(a.dedup_key().is_some_and(|k| k.starts_with("backrest:")));
        assert_eq!(
            a.dedup_key(),
            parse_file("snapshot-success.txt").dedup_key()
        );
        assert_ne!(a.dedup_key(), parse_file("snapshot-error.txt").dedup_key());
    }

    #[test]
    fn a_snapshot_error_summary() {
        let e = parse_file("snapshot-error.txt");
        assert_eq!(e.status(), RunStatus::Failed);
        assert_eq!(e.error(), Some("repository is locked by another process"));
    }
}

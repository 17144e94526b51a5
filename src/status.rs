//! A monitor's status, worked out from its runs.

use crate::domain::{MonitorStatus, StoredEvent};
use crate::store::MonitorRuns;

/// What a monitor looks like right now: shown in the panel, pushed to Home Assistant.
#[derive(Debug, Clone)]
pub struct MonitorSummary {
    pub status: MonitorStatus,
    /// The run that explains the status: the newest run whose status is the monitor's.
    pub headline: Option<StoredEvent>,
    /// The newest run of each source that still counts, newest first.
    pub sources: Vec<StoredEvent>,
    pub last_success: Option<StoredEvent>,
    /// Newest first, at most the monitor's history limit.
    pub recent: Vec<StoredEvent>,
    /// When anything last arrived (a run or a test).
    pub last_seen: Option<jiff::Timestamp>,
}

impl MonitorSummary {
    /// The status is the worst of the latest run of every source. A run that names no
    /// source (Kopia's maintenance error, say) concerns the whole monitor until any newer
    /// run arrives. A monitor that has only received a sender's test notification shows
    /// `success`: the path from the backup tool works.
    pub fn compute(runs: MonitorRuns) -> Self {
        let newest_sourced = runs
            .latest_per_source
            .iter()
            .filter(|e| e.event.source().is_some())
            .map(|e| e.id)
            .max();
        let sources: Vec<StoredEvent> = runs
            .latest_per_source
            .into_iter()
            .filter(|e| {
                e.event.source().is_some() || newest_sourced.is_none_or(|newest| e.id > newest)
            })
            .collect();
        let mut status = MonitorStatus::worst_of(sources.iter().map(|e| e.event.status()));
        if sources.is_empty() && runs.last_test.is_some() {
            status = MonitorStatus::Success;
        }
        let headline = sources
            .iter()
            .filter(|e| MonitorStatus::worst_of([e.event.status()]) == status)
            .max_by_key(|e| e.id)
            .cloned();
        let last_seen = [runs.recent.first(), runs.last_test.as_ref()]
            .into_iter()
            .flatten()
            .map(|e| e.received_at)
            .max();
        Self {
            status,
            headline,
            sources,
            last_success: runs.last_success,
            recent: runs.recent,
            last_seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::{EventKind, RunStatus, SenderKind};

    fn stored(id: i64, kind: EventKind, source: Option<&str>, status: RunStatus) -> StoredEvent {
        StoredEvent::from_row(
            id,
            Timestamp::from_second(id).unwrap(),
            SenderKind::Kopia,
            kind,
            status,
            source.map(str::to_owned),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
    }

    fn run(id: i64, source: Option<&str>, status: RunStatus) -> StoredEvent {
        stored(id, EventKind::Run, source, status)
    }

    #[test]
    fn nothing_received_is_unknown() {
        let s = MonitorSummary::compute(MonitorRuns::default());
        assert_eq!(s.status, MonitorStatus::Unknown);
        assert!(s.headline.is_none());
    }

    #[test]
    fn one_failed_source_fails_the_monitor_and_explains_why() {
        let runs = MonitorRuns {
            latest_per_source: vec![
                run(3, Some("/b"), RunStatus::Success),
                run(2, Some("/a"), RunStatus::Failed),
            ],
            ..Default::default()
        };
        let s = MonitorSummary::compute(runs);
        assert_eq!(s.status, MonitorStatus::Failed);
        assert_eq!(s.headline.unwrap().id, 2);
    }

    #[test]
    fn a_sourceless_failure_counts_until_a_newer_run_arrives() {
        let failing = MonitorRuns {
            latest_per_source: vec![
                run(5, None, RunStatus::Failed),
                run(4, Some("/a"), RunStatus::Success),
            ],
            ..Default::default()
        };
        assert_eq!(
            MonitorSummary::compute(failing).status,
            MonitorStatus::Failed
        );
        let recovered = MonitorRuns {
            latest_per_source: vec![
                run(6, Some("/a"), RunStatus::Success),
                run(5, None, RunStatus::Failed),
            ],
            ..Default::default()
        };
        assert_eq!(
            MonitorSummary::compute(recovered).status,
            MonitorStatus::Success
        );
    }

    #[test]
    fn a_test_notification_alone_shows_success() {
        let runs = MonitorRuns {
            last_test: Some(stored(1, EventKind::Test, None, RunStatus::Success)),
            ..Default::default()
        };
        let s = MonitorSummary::compute(runs);
        assert_eq!(s.status, MonitorStatus::Success);
        assert_eq!(s.last_seen, Some(Timestamp::from_second(1).unwrap()));
    }
}

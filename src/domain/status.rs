use std::fmt;

use super::RunStatus;
use super::event::string_enum;

/// What Home Assistant shows for a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorStatus {
    Success,
    Warning,
    Failed,
    /// The schedule expected a run that has not arrived.
    Overdue,
    /// A start arrived and its end has not.
    Running,
    /// Nothing received yet, or only results nobody could read.
    Unknown,
}

string_enum!(MonitorStatus {
    Success => "success",
    Warning => "warning",
    Failed => "failed",
    Overdue => "overdue",
    Running => "running",
    Unknown => "unknown",
});

impl MonitorStatus {
    /// The monitor's status is the worst of the latest run status of each of its sources.
    pub fn worst_of(latest_per_source: impl IntoIterator<Item = RunStatus>) -> Self {
        match latest_per_source.into_iter().max() {
            Some(RunStatus::Success) => Self::Success,
            Some(RunStatus::Warning) => Self::Warning,
            Some(RunStatus::Failed) => Self::Failed,
            Some(RunStatus::Unknown) | None => Self::Unknown,
        }
    }

    /// `binary_sensor.kopia_{key}_problem` is on for these.
    pub fn is_problem(self) -> bool {
        matches!(self, Self::Failed | Self::Overdue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_latest_status_wins() {
        use RunStatus::*;
        assert_eq!(MonitorStatus::worst_of([]), MonitorStatus::Unknown);
        assert_eq!(
            MonitorStatus::worst_of([Success, Success]),
            MonitorStatus::Success
        );
        assert_eq!(
            MonitorStatus::worst_of([Success, Warning]),
            MonitorStatus::Warning
        );
        assert_eq!(
            MonitorStatus::worst_of([Warning, Failed, Success]),
            MonitorStatus::Failed
        );
        assert_eq!(
            MonitorStatus::worst_of([Success, Unknown]),
            MonitorStatus::Unknown
        );
    }
}

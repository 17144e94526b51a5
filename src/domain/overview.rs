//! Every monitor at a glance: what the add-on's own entities say ("all is well", or which
//! monitors have a problem and why).

use super::{MonitorKey, MonitorStatus};

/// The key of the add-on's own entities (`sensor.kopia_backups`): no monitor gets it.
pub const OVERVIEW_KEY: &str = "backups";

/// One monitor as the overview shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverviewEntry {
    pub key: MonitorKey,
    pub name: String,
    pub status: MonitorStatus,
    /// Why it is not fine, when it is not.
    pub reason: Option<String>,
}

/// Every monitor's status, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    entries: Vec<OverviewEntry>,
}

impl Overview {
    pub fn new(mut entries: Vec<OverviewEntry>) -> Self {
        entries.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        Self { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The monitors that need a look, worst first.
    pub fn problems(&self) -> Vec<&OverviewEntry> {
        let mut problems: Vec<&OverviewEntry> = self
            .entries
            .iter()
            .filter(|e| e.status.is_problem())
            .collect();
        problems.sort_by_key(|e| std::cmp::Reverse(severity(e.status)));
        problems
    }

    pub fn has_problem(&self) -> bool {
        self.entries.iter().any(|e| e.status.is_problem())
    }

    /// The monitors with a problem in one line, worst first, at most `max` of them:
    /// `Laptop: failed (/home: disk full); NAS: overdue (…)`.
    pub fn problems_said(&self, max: usize) -> String {
        let problems = self.problems();
        let mut said: Vec<String> = problems
            .iter()
            .take(max)
            .map(|e| match &e.reason {
                Some(reason) => format!("{}: {} ({reason})", e.name, e.status),
                None => format!("{}: {}", e.name, e.status),
            })
            .collect();
        if problems.len() > max {
            said.push(format!("and {} more", problems.len() - max));
        }
        said.join("; ")
    }

    /// How many monitors are in `status`.
    pub fn count(&self, status: MonitorStatus) -> usize {
        self.entries.iter().filter(|e| e.status == status).count()
    }
}

/// Failures first, then what did not arrive, then warnings.
fn severity(status: MonitorStatus) -> u8 {
    match status {
        MonitorStatus::Failed => 3,
        MonitorStatus::Overdue => 2,
        MonitorStatus::Warning => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, status: MonitorStatus) -> OverviewEntry {
        OverviewEntry {
            key: MonitorKey::parse(key).unwrap(),
            name: key.to_uppercase(),
            status,
            reason: status.is_problem().then(|| format!("{key} broke")),
        }
    }

    #[test]
    fn problems_are_listed_worst_first_and_counted_by_status() {
        let overview = Overview::new(vec![
            entry("nas", MonitorStatus::Success),
            entry("laptop", MonitorStatus::Warning),
            entry("cloud", MonitorStatus::Failed),
            entry("phone", MonitorStatus::Overdue),
            entry("desk", MonitorStatus::Running),
        ]);
        assert!(overview.has_problem());
        let keys: Vec<&str> = overview.problems().iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["cloud", "phone", "laptop"]);
        assert_eq!(
            overview.problems_said(2),
            "CLOUD: failed (cloud broke); PHONE: overdue (phone broke); and 1 more"
        );
        assert_eq!(overview.count(MonitorStatus::Success), 1);
        assert_eq!(overview.count(MonitorStatus::Unknown), 0);
        assert_eq!(overview.len(), 5);
    }

    #[test]
    fn no_monitor_is_no_problem() {
        let overview = Overview::default();
        assert!(!overview.has_problem());
        assert!(overview.problems().is_empty());
    }
}

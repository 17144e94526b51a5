//! The disk the add-on stores into is full: reports are refused (503), and nothing can be
//! written, not even the outbox. Which monitors lost reports is kept here, in memory, so
//! their problem sensors and the panel say so until a write succeeds again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;

use crate::domain::StorageFull;

#[derive(Debug, Default)]
pub struct StorageHealth {
    /// Any monitor refused: the one check on the path of every stored report.
    any: AtomicBool,
    full: Mutex<HashMap<i64, StorageFull>>,
}

impl StorageHealth {
    /// A report of this monitor was refused for a full disk.
    pub fn refused(&self, monitor_id: i64) {
        let mut full = self.full.lock().unwrap_or_else(|p| p.into_inner());
        let entry = full.entry(monitor_id).or_insert(StorageFull {
            refused: 0,
            since: Timestamp::now(),
        });
        entry.refused += 1;
        self.any.store(true, Ordering::Relaxed);
    }

    /// A write succeeded: the disk has room again. The monitors that had lost reports.
    pub fn recovered(&self) -> Vec<i64> {
        if !self.any.swap(false, Ordering::Relaxed) {
            return Vec::new();
        }
        let mut full = self.full.lock().unwrap_or_else(|p| p.into_inner());
        full.drain().map(|(id, _)| id).collect()
    }

    /// This monitor's refused reports, while the disk is full.
    pub fn of(&self, monitor_id: i64) -> Option<StorageFull> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let full = self.full.lock().unwrap_or_else(|p| p.into_inner());
        full.get(&monitor_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_reports_are_counted_per_monitor_until_a_write_succeeds() {
        let health = StorageHealth::default();
        assert_eq!(health.of(1), None);
        health.refused(1);
        health.refused(1);
        health.refused(2);
        assert_eq!(health.of(1).map(|f| f.refused), Some(2));
        let mut recovered = health.recovered();
        recovered.sort_unstable();
        assert_eq!(recovered, [1, 2]);
        assert_eq!(health.of(1), None);
        assert!(health.recovered().is_empty());
    }
}

//! Consistent copies of the database for Home Assistant backups (`backup_pre`), and the way
//! back after a restore.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Writes a consistent copy of the database at `db` to `target` (`VACUUM INTO`, which reads
/// one snapshot while the add-on keeps writing), replacing `target` only when complete.
pub fn snapshot(db: &Path, target: &Path) -> Result<(), StoreError> {
    let partial = target.with_extension("partial");
    let io = |source| StoreError::File {
        path: partial.clone(),
        source,
    };
    if partial.exists() {
        std::fs::remove_file(&partial).map_err(io)?;
    }
    let conn = Connection::open(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let into = partial
        .to_str()
        .ok_or_else(|| StoreError::Corrupt("the data path is not UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [into])?;
    std::fs::rename(&partial, target).map_err(io)?;
    Ok(())
}

/// After Home Assistant restored the add-on's data, only the snapshot is there: start from
/// it. Returns whether it did.
pub fn restore_if_missing(db: &Path, snapshot: &Path) -> Result<bool, StoreError> {
    if db.exists() || !snapshot.exists() {
        return Ok(false);
    }
    std::fs::copy(snapshot, db).map_err(|source| StoreError::File {
        path: db.to_owned(),
        source,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::Origin;
    use crate::domain::{
        BackupEvent, EventKind, MonitorName, NewMonitor, RunStatus, SenderKind, WebhookId,
    };
    use crate::store::Store;

    #[tokio::test]
    async fn a_snapshot_taken_while_running_restores_everything_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kopia_webhook.db");
        let copy = dir.path().join("kopia_webhook.backup.db");
        let store = Store::open(&db).unwrap();
        let name = MonitorName::parse("Kept").unwrap();
        let m = store
            .create_monitor(NewMonitor::new(name, WebhookId::generate()), Origin::Ui)
            .await
            .unwrap();
        let event = BackupEvent::new(
            SenderKind::named("kopia"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_source("/a");
        store
            .insert_events(m.id, Timestamp::now(), vec![event])
            .await
            .unwrap();

        snapshot(&db, &copy).unwrap();
        snapshot(&db, &copy).unwrap();
        drop(store);
        // What a restore leaves: the snapshot, not the live files.
        for name in [
            "kopia_webhook.db",
            "kopia_webhook.db-wal",
            "kopia_webhook.db-shm",
        ] {
            let _ = std::fs::remove_file(dir.path().join(name));
        }

        assert!(restore_if_missing(&db, &copy).unwrap());
        assert!(
            !restore_if_missing(&db, &copy).unwrap(),
            "never over a live database"
        );
        let store = Store::open(&db).unwrap();
        let restored = store.monitors().await.unwrap();
        assert_eq!(restored.len(), 1);
        assert_eq!(
            store
                .events(restored[0].id, None, 10)
                .await
                .unwrap()
                .events
                .len(),
            1
        );
    }
}

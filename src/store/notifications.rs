//! The outbox of Home Assistant persistent notifications: one row per monitor saying which
//! problem it should show, and which one Home Assistant last got.

use jiff::Timestamp;
use rusqlite::params;

use super::{Store, StoreError, to_ms};

/// What a monitor's notification should say; `status` decides when it is sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The problem (`failed`, `warning`, `overdue`): a new one notifies again, a changed
    /// reason for the same problem does not.
    pub status: String,
    pub title: String,
    pub message: String,
}

/// A notification to create (`want: Some`) or dismiss (`None`).
#[derive(Debug, Clone)]
pub struct DueNotification {
    pub notification_id: String,
    pub want: Option<Notice>,
    pub attempts: i64,
}

impl Store {
    /// Sets what a monitor's notification should be; a different problem (or none) is
    /// delivered at once, the same problem only updates the text kept for a re-send.
    pub async fn want_notification(
        &self,
        monitor_id: i64,
        notification_id: String,
        want: Option<Notice>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let (status, title, message) = match want {
                Some(n) => (Some(n.status), n.title, n.message),
                None => (None, String::new(), String::new()),
            };
            conn.prepare_cached(
                "INSERT INTO notifications (notification_id, monitor_id, want_status, title, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (notification_id) DO UPDATE SET
                     monitor_id = excluded.monitor_id,
                     title = excluded.title,
                     message = excluded.message,
                     attempts = CASE WHEN want_status IS excluded.want_status THEN attempts ELSE 0 END,
                     next_attempt_at = CASE WHEN want_status IS excluded.want_status
                                       THEN next_attempt_at ELSE 0 END,
                     want_status = excluded.want_status",
            )?
            .execute(params![notification_id, monitor_id, status, title, message])?;
            Ok(())
        })
        .await
    }

    /// Dismisses every notification: the option was turned off, or the monitor deleted.
    pub async fn dismiss_notifications(&self, monitor_id: Option<i64>) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE notifications SET want_status = NULL, attempts = 0, next_attempt_at = 0
                 WHERE want_status IS NOT NULL AND (?1 IS NULL OR monitor_id = ?1)",
                [monitor_id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn due_notifications(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueNotification>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT notification_id, want_status, title, message, attempts FROM notifications
                 WHERE want_status IS NOT delivered_status AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![to_ms(now), limit as i64], |r| {
                let status: Option<String> = r.get(1)?;
                Ok(DueNotification {
                    notification_id: r.get(0)?,
                    want: match status {
                        Some(status) => Some(Notice {
                            status,
                            title: r.get(2)?,
                            message: r.get(3)?,
                        }),
                        None => None,
                    },
                    attempts: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Home Assistant has `status` (`None`: dismissed), unless the wish changed meanwhile.
    pub async fn notification_delivered(
        &self,
        notification_id: String,
        status: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE notifications SET delivered_status = ?2, attempts = 0
                 WHERE notification_id = ?1 AND want_status IS ?2",
                params![notification_id, status],
            )?;
            // Nothing left to say about a deleted monitor's dismissed notification.
            conn.execute(
                "DELETE FROM notifications WHERE notification_id = ?1 AND monitor_id IS NULL
                 AND want_status IS NULL AND delivered_status IS NULL",
                [notification_id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn notification_failed(
        &self,
        notification_id: String,
        retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?2
                 WHERE notification_id = ?1",
                params![notification_id, to_ms(retry_at)],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(status: &str, message: &str) -> Option<Notice> {
        Some(Notice {
            status: status.into(),
            title: "Backup problem: NAS".into(),
            message: message.into(),
        })
    }

    #[tokio::test]
    async fn each_problem_is_notified_once_and_dismissed_on_recovery() {
        let (_dir, store, monitor) = crate::store::test_store_with_monitor().await;
        let id = "kopia_webhook_nas".to_owned();
        let now = || Timestamp::now();
        store
            .want_notification(monitor, id.clone(), notice("failed", "a"))
            .await
            .unwrap();
        let due = store.due_notifications(now(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].want, notice("failed", "a"));
        store
            .notification_delivered(id.clone(), Some("failed".into()))
            .await
            .unwrap();
        // The same problem with another reason: nothing new to deliver.
        store
            .want_notification(monitor, id.clone(), notice("failed", "b"))
            .await
            .unwrap();
        assert!(store.due_notifications(now(), 10).await.unwrap().is_empty());
        // Another problem notifies again; recovery dismisses.
        store
            .want_notification(monitor, id.clone(), notice("overdue", "c"))
            .await
            .unwrap();
        assert_eq!(store.due_notifications(now(), 10).await.unwrap().len(), 1);
        store
            .want_notification(monitor, id.clone(), None)
            .await
            .unwrap();
        let due = store.due_notifications(now(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].want, None, "recovered: dismiss");
        // A failed delivery waits for its retry time.
        store
            .notification_failed(id.clone(), now() + jiff::SignedDuration::from_mins(5))
            .await
            .unwrap();
        assert!(store.due_notifications(now(), 10).await.unwrap().is_empty());
        store.notification_delivered(id, None).await.unwrap();
    }
}

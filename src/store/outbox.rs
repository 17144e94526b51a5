//! The outbox towards Home Assistant: the desired state of every entity (latest wins) and
//! what Core last accepted, plus Core events waiting to be fired.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::params;
use serde::Serialize;

use super::history::{columns_as, event_from_row_at};
use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::{MonitorKey, StoredEvent};

/// A state to push (`desired = Some`) or an entity to remove from Core (`None`).
#[derive(Debug, Clone)]
pub struct DueState {
    pub entity_id: String,
    pub desired: Option<String>,
    pub attempts: i64,
    /// Which "Core remembers what we pushed" period this was read in; see [`Store::mark_pushed`].
    pub epoch: i64,
}

/// A Home Assistant event waiting to be fired.
#[derive(Debug, Clone)]
pub struct DueCoreEvent {
    pub id: CoreEventRef,
    pub attempts: i64,
    pub what: CoreEventSubject,
}

/// Where a due Home Assistant event waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreEventRef {
    /// A row of `core_events`: refused before, or queued before the cursor existed.
    Waiting(i64),
    /// A stored event after the cursor (its ID).
    Marked(i64),
}

/// What a Home Assistant event announces.
#[derive(Debug, Clone)]
pub enum CoreEventSubject {
    /// A stored event of a monitor.
    Event {
        monitor_key: MonitorKey,
        monitor_name: String,
        event: Box<StoredEvent>,
    },
    /// Queued by a version before events were referenced: its data as rendered then.
    Rendered(String),
}

/// How a monitor's entities are doing in Home Assistant, for the panel and the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushStatus {
    /// Changes are waiting to be accepted by Home Assistant.
    pub pending: bool,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

fn push_statuses_where(
    conn: &rusqlite::Connection,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<HashMap<i64, PushStatus>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT monitor_id, MAX(desired IS NOT pushed), MAX(pushed_at), MAX(last_error)
         FROM entities WHERE {filter} GROUP BY monitor_id"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next()? {
        let pushed_at: Option<i64> = row.get(2)?;
        out.insert(
            row.get(0)?,
            PushStatus {
                pending: row.get::<_, i64>(1)? != 0,
                last_success_at: pushed_at.map(from_ms).transpose()?,
                last_error: row.get(3)?,
            },
        );
    }
    Ok(out)
}

impl Store {
    /// Monitors whose entities must be worked out again, with their due count (pass it
    /// back to [`Store::queue_states`]).
    pub async fn due_monitors(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, entities_due FROM monitors WHERE entities_due > 0")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every monitor's entities are due (at start: Core may have changed meanwhile).
    pub async fn mark_all_due(&self) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute("UPDATE monitors SET entities_due = entities_due + 1", [])?;
            Ok(())
        })
        .await
    }

    /// Records what a monitor's entities should show; returns how many changed. The
    /// monitor stops being due unless something arrived after `due` was read (`None`: it
    /// was not due, only late).
    pub async fn queue_states(
        &self,
        monitor_id: i64,
        states: Vec<(String, String)>,
        due: Option<i64>,
    ) -> Result<usize, StoreError> {
        self.write(move |conn| {
            if let Some(due) = due {
                conn.prepare_cached(
                    "UPDATE monitors SET entities_due = 0 WHERE id = ?1 AND entities_due = ?2",
                )?
                .execute(params![monitor_id, due])?;
            }
            let mut upsert = conn.prepare_cached(
                "INSERT INTO entities (entity_id, monitor_id, desired) VALUES (?1, ?2, ?3)
                 ON CONFLICT (entity_id) DO UPDATE
                 SET desired = excluded.desired, monitor_id = excluded.monitor_id, attempts = 0,
                     next_attempt_at = 0, last_error = NULL
                 WHERE entities.desired IS NOT excluded.desired",
            )?;
            let mut changed = 0;
            for (entity_id, desired) in &states {
                changed += upsert.execute(params![entity_id, monitor_id, desired])?;
            }
            Ok(changed)
        })
        .await
    }

    /// Entities whose desired state Core has not accepted yet and that may be tried now.
    pub async fn due_states(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueState>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                // Problem sensors last: an automation they trigger reads the main sensor's
                // new state and reason, not the one before.
                "SELECT entity_id, desired, attempts, epoch FROM entities
                 WHERE desired IS NOT pushed AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, entity_id LIKE 'binary_sensor.%', entity_id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![to_ms(now), limit as i64], |r| {
                Ok(DueState {
                    entity_id: r.get(0)?,
                    desired: r.get(1)?,
                    attempts: r.get(2)?,
                    epoch: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Core accepted `pushed` (a removal when `None`), read in `epoch`. If Core forgot
    /// everything since (its restart was noticed while this push was on its way), the
    /// answer came from the Core that forgot: the state stays due.
    pub async fn mark_pushed(
        &self,
        entity_id: String,
        pushed: Option<String>,
        epoch: i64,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now();
        self.write(move |conn| {
            match pushed {
                Some(pushed) => conn.execute(
                    "UPDATE entities SET pushed = ?2, pushed_at = ?3, attempts = 0, next_attempt_at = 0,
                         last_error = NULL
                     WHERE entity_id = ?1 AND epoch = ?4",
                    params![entity_id, pushed, to_ms(now), epoch],
                )?,
                None => conn.execute("DELETE FROM entities WHERE entity_id = ?1 AND desired IS NULL", [entity_id])?,
            };
            Ok(())
        })
        .await
    }

    pub async fn mark_push_failed(
        &self,
        entity_id: String,
        error: String,
        retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE entities SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE entity_id = ?1",
                params![entity_id, to_ms(retry_at), error],
            )?;
            Ok(())
        })
        .await
    }

    /// The entities now go through MQTT: every REST state is removed from Core (a state Core
    /// may hold counts as pushed, so its removal is due). Returns how many.
    pub async fn remove_rest_states(&self) -> Result<usize, StoreError> {
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE entities SET desired = NULL, pushed = COALESCE(pushed, '{}'), attempts = 0,
                     next_attempt_at = 0, last_error = NULL
                 WHERE desired IS NOT NULL",
                [],
            )?)
        })
        .await
    }

    /// Records what the add-on's own entities (the overview) should show; returns how many
    /// changed. They belong to no monitor.
    pub async fn queue_overview_states(
        &self,
        states: Vec<(String, String)>,
    ) -> Result<usize, StoreError> {
        self.write(move |conn| {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO entities (entity_id, monitor_id, desired) VALUES (?1, NULL, ?2)
                 ON CONFLICT (entity_id) DO UPDATE
                 SET desired = excluded.desired, monitor_id = NULL, attempts = 0,
                     next_attempt_at = 0, last_error = NULL
                 WHERE entities.desired IS NOT excluded.desired",
            )?;
            let mut changed = 0;
            for (entity_id, desired) in &states {
                changed += upsert.execute(params![entity_id, desired])?;
            }
            Ok(changed)
        })
        .await
    }

    /// Are REST states of entities that belong to no monitor (the overview's, deleted
    /// monitors') still to be removed from Core?
    pub async fn unowned_removals_pending(&self) -> Result<bool, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT 1 FROM entities WHERE monitor_id IS NULL AND desired IS NULL LIMIT 1",
                )?
                .exists([])?)
        })
        .await
    }

    /// Are REST states of this monitor still to be removed from Core? (Its MQTT entities
    /// wait for that: Core would give them `_2` IDs while the old states hold the IDs.)
    pub async fn removals_pending(&self, monitor_id: i64) -> Result<bool, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT 1 FROM entities WHERE monitor_id = ?1 AND desired IS NULL LIMIT 1",
                )?
                .exists([monitor_id])?)
        })
        .await
    }

    /// Core has forgotten every state (it restarted): push them all again, now.
    pub async fn forget_pushed(&self) -> Result<usize, StoreError> {
        self.write(|conn| {
            // Core keeps persistent notifications in memory only: a problem still there
            // is notified again.
            conn.execute(
                "UPDATE notifications SET delivered_status = NULL, next_attempt_at = 0
                 WHERE want_status IS NOT NULL",
                [],
            )?;
            Ok(conn.execute(
                "UPDATE entities SET pushed = NULL, next_attempt_at = 0, epoch = epoch + 1
                 WHERE desired IS NOT NULL",
                [],
            )?)
        })
        .await
    }

    /// When the next failed push may be retried, if any is waiting.
    pub async fn next_retry_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.read(|conn| {
            let ms: Option<i64> = conn.query_row(
                "SELECT MIN(next_attempt_at) FROM (
                     SELECT next_attempt_at FROM entities WHERE desired IS NOT pushed
                     UNION ALL SELECT next_attempt_at FROM core_events
                     UNION ALL SELECT next_attempt_at FROM notifications
                         WHERE want_status IS NOT delivered_status)",
                [],
                |r| r.get(0),
            )?;
            ms.map(from_ms).transpose()
        })
        .await
    }

    /// The main entity of each monitor that Core has accepted: what the reconciler checks.
    pub async fn pushed_main_entities(
        &self,
        main_entity_id: fn(&MonitorKey) -> String,
    ) -> Result<Vec<String>, StoreError> {
        // The entity IDs come from the catalogue, not spelled again here.
        let pushed: Vec<(String, String)> = self
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT e.entity_id, m.key FROM entities e JOIN monitors m ON m.id = e.monitor_id
                     WHERE e.pushed IS NOT NULL AND e.desired IS NOT NULL",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        Ok(pushed
            .into_iter()
            .filter(|(entity_id, key)| {
                MonitorKey::parse(key).is_ok_and(|key| *entity_id == main_entity_id(&key))
            })
            .map(|(entity_id, _)| entity_id)
            .collect())
    }

    /// Push status of every monitor, by monitor ID.
    pub async fn push_statuses(&self) -> Result<HashMap<i64, PushStatus>, StoreError> {
        self.read(|conn| push_statuses_where(conn, "monitor_id IS NOT NULL", &[]))
            .await
    }

    /// One monitor's push status (an indexed lookup, not all monitors').
    pub async fn push_status(&self, monitor_id: i64) -> Result<PushStatus, StoreError> {
        self.read(move |conn| {
            Ok(
                push_statuses_where(conn, "monitor_id = ?1", &[&monitor_id])?
                    .remove(&monitor_id)
                    .unwrap_or_default(),
            )
        })
        .await
    }

    /// Home Assistant events due: refused ones whose retry has come (and any queued before
    /// the cursor existed), then the marked events after the cursor, oldest first.
    pub async fn due_core_events(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueCoreEvent>, StoreError> {
        self.read(move |conn| {
            let mut out = Vec::new();
            let mut waiting = conn.prepare_cached(&format!(
                "SELECT c.id, c.attempts, c.legacy_data, m.key, m.name, {}
                 FROM core_events c LEFT JOIN events e ON e.id = c.event_id
                 LEFT JOIN monitors m ON m.id = e.monitor_id
                 WHERE c.next_attempt_at <= ?1 ORDER BY c.id LIMIT ?2",
                columns_as("e")
            ))?;
            let mut rows = waiting.query(params![to_ms(now), limit as i64])?;
            while let Some(row) = rows.next()? {
                let id = CoreEventRef::Waiting(row.get(0)?);
                if let Some(what) = core_event_subject(row, 2)? {
                    out.push(DueCoreEvent {
                        id,
                        attempts: row.get(1)?,
                        what,
                    });
                }
            }
            let mut marked = conn.prepare_cached(&format!(
                "SELECT e.id, NULL, m.key, m.name, {}
                 FROM events e JOIN monitors m ON m.id = e.monitor_id
                 WHERE e.id > (SELECT fired_through FROM core_event_cursor) AND e.to_core = 1
                 ORDER BY e.id LIMIT ?1",
                columns_as("e")
            ))?;
            let mut rows = marked.query([(limit - out.len().min(limit)) as i64])?;
            while let Some(row) = rows.next()? {
                let id = CoreEventRef::Marked(row.get(0)?);
                if let Some(what) = core_event_subject(row, 1)? {
                    out.push(DueCoreEvent {
                        id,
                        attempts: 0,
                        what,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// Core took these events: one write for a round of them, not one each. Marked events
    /// are taken in order, so the cursor moves to the newest. A crash before this write
    /// fires them again: at least once, as before.
    pub async fn core_events_fired(&self, ids: Vec<CoreEventRef>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let mut delete = conn.prepare_cached("DELETE FROM core_events WHERE id = ?1")?;
            let mut through = None;
            for id in ids {
                match id {
                    CoreEventRef::Waiting(id) => {
                        delete.execute([id])?;
                    }
                    CoreEventRef::Marked(id) => through = through.max(Some(id)),
                }
            }
            if let Some(through) = through {
                advance_cursor(conn, through)?;
            }
            Ok(())
        })
        .await
    }

    /// Core refused this event: it waits apart, retried at `retry_at`, and the marked
    /// events behind it go on.
    pub async fn core_event_failed(
        &self,
        id: CoreEventRef,
        retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            match id {
                CoreEventRef::Waiting(id) => conn.execute(
                    "UPDATE core_events SET attempts = attempts + 1, next_attempt_at = ?2 WHERE id = ?1",
                    params![id, to_ms(retry_at)],
                )?,
                CoreEventRef::Marked(id) => {
                    conn.execute(
                        "INSERT INTO core_events (event_id, created_at, attempts, next_attempt_at)
                         SELECT id, received_at, 1, ?2 FROM events WHERE id = ?1",
                        params![id, to_ms(retry_at)],
                    )?;
                    advance_cursor(conn, id)?
                }
            };
            Ok(())
        })
        .await
    }

    /// Events older than `cutoff` are dropped unfired: an automation a day late does harm.
    pub async fn drop_stale_core_events(&self, cutoff: Timestamp) -> Result<usize, StoreError> {
        self.write(move |conn| {
            let cutoff = to_ms(cutoff);
            let waiting =
                conn.execute("DELETE FROM core_events WHERE created_at < ?1", [cutoff])?;
            // The marked events are in arrival order: the cursor skips those too old.
            let stale: Option<i64> = conn.query_row(
                "SELECT MAX(id) FROM events WHERE id > (SELECT fired_through FROM core_event_cursor)
                 AND to_core = 1 AND received_at < ?1",
                [cutoff],
                |r| r.get(0),
            )?;
            let skipped = match stale {
                Some(through) => conn.query_row(
                    "SELECT COUNT(*) FROM events WHERE id > (SELECT fired_through FROM core_event_cursor)
                     AND id <= ?1 AND to_core = 1",
                    [through],
                    |r| r.get::<_, i64>(0),
                )?,
                None => 0,
            };
            if let Some(through) = stale {
                advance_cursor(conn, through)?;
            }
            Ok(waiting + skipped as usize)
        })
        .await
    }
}

/// Moves the cursor forward to `through` (never back).
fn advance_cursor(conn: &rusqlite::Connection, through: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE core_event_cursor SET fired_through = ?1 WHERE fired_through < ?1",
        [through],
    )?)
}

/// After events were deleted: the next event ID is one more than the largest left, which
/// may be at or below the cursor (the newest events went). The cursor comes back to that
/// largest ID, so no new event is taken as fired; everything up to it was fired already.
pub(super) fn cursor_after_deletion(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE core_event_cursor
         SET fired_through = MIN(fired_through, (SELECT COALESCE(MAX(id), 0) FROM events))",
        [],
    )?;
    Ok(())
}

/// What a due row announces, read from column `at` on (rendered data, monitor key, monitor
/// name, the event's columns); `None` when its event is gone.
fn core_event_subject(
    row: &rusqlite::Row<'_>,
    at: usize,
) -> Result<Option<CoreEventSubject>, StoreError> {
    let legacy: Option<String> = row.get(at)?;
    let key: Option<String> = row.get(at + 1)?;
    Ok(match (legacy, key) {
        (Some(data), _) => Some(CoreEventSubject::Rendered(data)),
        (None, Some(key)) => Some(CoreEventSubject::Event {
            monitor_key: MonitorKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
            monitor_name: row.get(at + 2)?,
            event: Box::new(event_from_row_at(row, at + 3)?),
        }),
        (None, None) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RunStatus, ShrinkRule};
    use crate::store::{Delivery, test_insert, test_run};

    /// Stores one run of `source` for Core (as a webhook does while pushes are on).
    async fn report(store: &Store, monitor_id: i64, source: &str) {
        let delivery = Delivery {
            monitor_id,
            received_at: Timestamp::now(),
            events: vec![test_run(Some(source), RunStatus::Success)],
            fire_core_events: true,
            shrink: ShrinkRule::DEFAULT,
            unusual_durations: true,
        };
        store.ingest(delivery, |_| {}).await.unwrap();
    }

    async fn due_sources(store: &Store) -> Vec<(CoreEventRef, String)> {
        let due = store.due_core_events(Timestamp::now(), 10).await.unwrap();
        due.into_iter()
            .map(|due| match due.what {
                CoreEventSubject::Event { event, .. } => {
                    (due.id, event.event.source().unwrap_or("").to_owned())
                }
                CoreEventSubject::Rendered(data) => (due.id, data),
            })
            .collect()
    }

    fn sources(due: &[(CoreEventRef, String)]) -> Vec<&str> {
        due.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[tokio::test]
    async fn core_events_are_the_marked_events_after_the_cursor_in_order() {
        let (_dir, store, id) = crate::store::test_store_with_monitor().await;
        report(&store, id, "a").await;
        // An import (or a report while pushes are off) is never announced.
        test_insert(
            &store,
            id,
            vec![test_run(Some("imported"), RunStatus::Success)],
        )
        .await;
        report(&store, id, "b").await;
        let due = due_sources(&store).await;
        assert_eq!(sources(&due), ["a", "b"]);
        store.core_events_fired(vec![due[0].0]).await.unwrap();
        assert_eq!(sources(&due_sources(&store).await), ["b"]);
        store.core_events_fired(vec![due[1].0]).await.unwrap();
        assert!(due_sources(&store).await.is_empty());
        report(&store, id, "c").await;
        assert_eq!(sources(&due_sources(&store).await), ["c"]);
    }

    #[tokio::test]
    async fn a_refused_core_event_waits_apart_and_the_rest_go_on() {
        let (_dir, store, id) = crate::store::test_store_with_monitor().await;
        report(&store, id, "a").await;
        report(&store, id, "b").await;
        let due = due_sources(&store).await;
        let retry_at = Timestamp::now() + jiff::SignedDuration::from_mins(1);
        store.core_event_failed(due[0].0, retry_at).await.unwrap();
        assert_eq!(sources(&due_sources(&store).await), ["b"]);
        store.core_events_fired(vec![due[1].0]).await.unwrap();
        assert!(due_sources(&store).await.is_empty());
        let later = store
            .due_core_events(retry_at, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|due| (matches!(due.id, CoreEventRef::Waiting(_)), due.attempts))
            .collect::<Vec<_>>();
        assert_eq!(later, [(true, 1)]);
    }

    /// Deleting the newest events lets SQLite hand their IDs out again: an event stored then
    /// must not be taken as fired.
    #[tokio::test]
    async fn an_event_after_the_newest_were_deleted_is_still_fired() {
        let (_dir, store, first) = crate::store::test_store_with_monitor().await;
        let name = crate::domain::MonitorName::parse("Second").unwrap();
        let second = store
            .create_monitor(
                crate::domain::NewMonitor::new(name, crate::domain::WebhookId::generate()),
                crate::domain::Origin::Ui,
            )
            .await
            .unwrap()
            .id;
        report(&store, first, "a").await;
        report(&store, second, "b").await;
        report(&store, second, "c").await;
        let due = due_sources(&store).await;
        store
            .core_events_fired(due.iter().map(|(id, _)| *id).collect())
            .await
            .unwrap();
        store.delete_monitor(second).await.unwrap();
        report(&store, first, "d").await;
        assert_eq!(sources(&due_sources(&store).await), ["d"]);
    }

    #[tokio::test]
    async fn core_events_a_day_old_are_dropped_unfired() {
        let (_dir, store, id) = crate::store::test_store_with_monitor().await;
        report(&store, id, "a").await;
        report(&store, id, "b").await;
        let due = due_sources(&store).await;
        let retry_at = Timestamp::now();
        store.core_event_failed(due[0].0, retry_at).await.unwrap();
        let dropped = store
            .drop_stale_core_events(Timestamp::now() + jiff::SignedDuration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(dropped, 2);
        assert!(due_sources(&store).await.is_empty());
        report(&store, id, "c").await;
        assert_eq!(sources(&due_sources(&store).await), ["c"]);
    }

    #[tokio::test]
    async fn a_push_answered_before_core_forgot_everything_stays_due() {
        let (_dir, store, id) = crate::store::test_store_with_monitor().await;
        store
            .queue_states(id, vec![("sensor.kopia_m".into(), "{}".into())], Some(0))
            .await
            .unwrap();
        let due = store.due_states(Timestamp::now(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        // Core restarts while the push is on its way; its answer comes afterwards.
        store.forget_pushed().await.unwrap();
        store
            .mark_pushed(
                due[0].entity_id.clone(),
                due[0].desired.clone(),
                due[0].epoch,
            )
            .await
            .unwrap();
        let still = store.due_states(Timestamp::now(), 10).await.unwrap();
        assert_eq!(still.len(), 1, "the forgotten state is pushed again");
        store
            .mark_pushed(
                still[0].entity_id.clone(),
                still[0].desired.clone(),
                still[0].epoch,
            )
            .await
            .unwrap();
        assert!(
            store
                .due_states(Timestamp::now(), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_monitor_stays_due_when_something_arrived_while_it_was_worked_out() {
        let (_dir, store, id) = crate::store::test_store_with_monitor().await;
        let seen = store.due_monitors().await.unwrap();
        let count = seen.iter().find(|(m, _)| *m == id).unwrap().1;
        store.mark_all_due().await.unwrap();
        store
            .queue_states(id, Vec::new(), Some(count))
            .await
            .unwrap();
        assert!(
            store
                .due_monitors()
                .await
                .unwrap()
                .iter()
                .any(|(m, _)| *m == id)
        );
        let now = store.due_monitors().await.unwrap()[0].1;
        store.queue_states(id, Vec::new(), Some(now)).await.unwrap();
        assert!(store.due_monitors().await.unwrap().is_empty());
    }
}

//! The history's reads: a monitor's runs for its status, pages of its history, retention.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::{
    EventKind, LiveProgress, MonitorRuns, RunStatus, RunTime, SenderKind, StoredEvent,
};

const COLUMNS: &str = "id, received_at, sender, kind, status, source, started_at, finished_at, \
                       duration_ms, size_bytes, files, dirs, error, run_id, host, target";

/// [`COLUMNS`] of the `events` table under an alias (`e.id, e.received_at…`), for joins.
pub(super) fn columns_as(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn event_from_row(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    event_from_row_at(row, 0)
}

/// Reads [`COLUMNS`] starting at column `at`.
pub(super) fn event_from_row_at(row: &Row<'_>, at: usize) -> Result<StoredEvent, StoreError> {
    let corrupt = |what: &str, value: String| StoreError::Corrupt(format!("{what} {value:?}"));
    let sender: String = row.get(at + 2)?;
    let kind: String = row.get(at + 3)?;
    let status: String = row.get(at + 4)?;
    let time = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        row.get::<_, Option<i64>>(at + i)?.map(from_ms).transpose()
    };
    Ok(StoredEvent::from_row(
        row.get(at)?,
        from_ms(row.get(at + 1)?)?,
        SenderKind::from_db(&sender).ok_or_else(|| corrupt("sender", sender.clone()))?,
        EventKind::from_db(&kind).ok_or_else(|| corrupt("kind", kind.clone()))?,
        RunStatus::from_db(&status).ok_or_else(|| corrupt("status", status.clone()))?,
        row.get(at + 5)?,
        time(6)?,
        time(7)?,
        row.get(at + 8)?,
        row.get(at + 9)?,
        row.get(at + 10)?,
        row.get(at + 11)?,
        row.get(at + 12)?,
    )
    .with_stored_extras(row.get(at + 13)?, row.get(at + 14)?, row.get(at + 15)?))
}

fn collect(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

/// What a monitor's status is computed from; every query is an index seek, however long
/// the history (see the indexes in the migrations).
fn runs_of(conn: &Connection, monitor_id: i64, recent: usize) -> Result<MonitorRuns, StoreError> {
    let latest_per_source = collect(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM events WHERE id IN
             (SELECT event_id FROM latest_runs WHERE monitor_id = ?1) ORDER BY id DESC"
        ),
        &[&monitor_id],
    )?;
    let success_per_source = collect(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM events WHERE id IN
             (SELECT success_event_id FROM latest_runs WHERE monitor_id = ?1) ORDER BY id DESC"
        ),
        &[&monitor_id],
    )?;
    let recent = collect(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM events WHERE monitor_id = ?1 AND kind = 'run' ORDER BY id DESC LIMIT ?2"
        ),
        &[&monitor_id, &(recent as i64)],
    )?;
    let newest = |kind_and_status: &str| -> Result<Option<StoredEvent>, StoreError> {
        Ok(collect(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM events WHERE monitor_id = ?1 AND {kind_and_status} ORDER BY id DESC LIMIT 1"
            ),
            &[&monitor_id],
        )?
        .pop())
    };
    let mut run_times = Vec::new();
    let mut times = conn.prepare_cached(
        "SELECT received_at, started_at FROM events WHERE monitor_id = ?1 AND kind = 'run'
         ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = times.query(params![monitor_id, MonitorRuns::RUN_TIMES as i64])?;
    while let Some(row) = rows.next()? {
        run_times.push(run_time(row.get(0)?, row.get(1)?)?);
    }
    Ok(MonitorRuns {
        latest_per_source,
        success_per_source,
        recent,
        last_success: newest("kind = 'run' AND status = 'success'")?,
        last_test: newest("kind = 'test'")?,
        last_start: newest("kind = 'start'")?,
        last_check: newest("kind = 'check'")?,
        last_verified: newest("kind = 'check' AND status = 'success'")?,
        run_times,
        progress: progress_of(conn, monitor_id)?,
    })
}

/// When a run began (its reported start, else its arrival) and arrived.
fn run_time(received_ms: i64, started_ms: Option<i64>) -> Result<RunTime, StoreError> {
    let arrived = from_ms(received_ms)?;
    let began = started_ms.map(from_ms).transpose()?.unwrap_or(arrived);
    Ok(RunTime {
        began: began.min(arrived),
        arrived,
    })
}

/// The smallest event ID received at or after `cutoff_ms` (one past the last ID if none):
/// a binary search, since IDs grow with arrival time.
fn first_id_received_since(conn: &Connection, cutoff_ms: i64) -> Result<i64, StoreError> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(id), MAX(id) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(mut low), Some(max)) = (min, max) else {
        return Ok(0);
    };
    let mut high = max + 1;
    let mut at_or_after =
        conn.prepare_cached("SELECT received_at FROM events WHERE id >= ?1 ORDER BY id LIMIT 1")?;
    while low < high {
        let mid = low + (high - low) / 2;
        let received: Option<i64> = at_or_after.query_row([mid], |r| r.get(0)).optional()?;
        match received {
            Some(at) if at < cutoff_ms => low = mid + 1,
            _ => high = mid,
        }
    }
    Ok(low)
}

/// The newest progress report of a monitor's running backups.
fn progress_of(conn: &Connection, monitor_id: i64) -> Result<Option<LiveProgress>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT source, phase, fraction, files_done, files_total, bytes_done, bytes_total,
             started_at, reported_at
         FROM live_progress WHERE monitor_id = ?1 ORDER BY reported_at DESC LIMIT 1",
    )?;
    let mut rows = stmt.query([monitor_id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let source: String = row.get(0)?;
    Ok(Some(LiveProgress {
        source: (!source.is_empty()).then_some(source),
        phase: row.get(1)?,
        fraction: row.get(2)?,
        files_done: row.get(3)?,
        files_total: row.get(4)?,
        bytes_done: row.get(5)?,
        bytes_total: row.get(6)?,
        started_at: row.get::<_, Option<i64>>(7)?.map(from_ms).transpose()?,
        reported_at: from_ms(row.get(8)?)?,
    }))
}

/// How much of a kept body a history page shows.
const BODY_HEAD: usize = 2048;

/// One page of a monitor's history, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

impl Store {
    /// Stops counting a source's newest run towards the status (`""`: runs without a
    /// source). Returns whether there was one.
    pub async fn retire_source(&self, monitor_id: i64, source: String) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let retired = conn.execute(
                "DELETE FROM latest_runs WHERE monitor_id = ?1 AND source = ?2",
                params![monitor_id, source],
            )? > 0;
            if retired {
                conn.execute(
                    "UPDATE monitors SET entities_due = entities_due + 1 WHERE id = ?1",
                    [monitor_id],
                )?;
            }
            Ok(retired)
        })
        .await
    }

    /// A page of a monitor's events, newest first, older than `before` (an event ID).
    pub async fn events(
        &self,
        monitor_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        let limit = limit.clamp(1, 500);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS}, substr(raw, 1, {BODY_HEAD}) FROM events
                 WHERE monitor_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ))?;
            let mut rows = stmt.query(params![monitor_id, before, (limit + 1) as i64])?;
            let mut events = Vec::new();
            while let Some(row) = rows.next()? {
                let mut event = event_from_row(row)?;
                let head: Option<Vec<u8>> = row.get(16)?;
                event.body_head = head.as_deref().map(crate::domain::printable);
                events.push(event);
            }
            let next_before = if events.len() > limit {
                events.truncate(limit);
                events.last().map(|e| e.id)
            } else {
                None
            };
            Ok(EventPage {
                events,
                next_before,
            })
        })
        .await
    }

    pub async fn monitor_runs(
        &self,
        monitor_id: i64,
        recent: usize,
    ) -> Result<MonitorRuns, StoreError> {
        self.read(move |conn| runs_of(conn, monitor_id, recent))
            .await
    }

    /// What every monitor's status is computed from, with only its newest run as `recent`:
    /// five statements for all monitors together (the dashboard, the monitor list).
    pub async fn all_monitor_runs(&self) -> Result<HashMap<i64, MonitorRuns>, StoreError> {
        self.read(|conn| {
            let mut all: HashMap<i64, MonitorRuns> = HashMap::new();
            let e = columns_as("e");
            let mut each = |sql: &str, put: &mut dyn FnMut(&mut MonitorRuns, StoredEvent)| -> Result<(), StoreError> {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let monitor_id: i64 = row.get(0)?;
                    put(all.entry(monitor_id).or_default(), event_from_row_at(row, 1)?);
                }
                Ok(())
            };
            each(
                &format!(
                    "SELECT l.monitor_id, {e} FROM latest_runs l JOIN events e ON e.id = l.event_id ORDER BY e.id DESC"
                ),
                &mut |runs, event| runs.latest_per_source.push(event),
            )?;
            let newest = |condition: &str| {
                format!(
                    "SELECT e.monitor_id, {e} FROM events e WHERE e.id IN (SELECT (SELECT id FROM events
                     WHERE monitor_id = m.id AND {condition} ORDER BY id DESC LIMIT 1) FROM monitors m)"
                )
            };
            each(&newest("kind = 'run'"), &mut |runs, event| runs.recent.push(event))?;
            each(&newest("kind = 'run' AND status = 'success'"), &mut |runs, event| {
                runs.last_success = Some(event)
            })?;
            each(&newest("kind = 'test'"), &mut |runs, event| runs.last_test = Some(event))?;
            each(&newest("kind = 'start'"), &mut |runs, event| runs.last_start = Some(event))?;
            each(&newest("kind = 'check'"), &mut |runs, event| runs.last_check = Some(event))?;
            each(&newest("kind = 'check' AND status = 'success'"), &mut |runs, event| {
                runs.last_verified = Some(event)
            })?;
            let mut times = conn.prepare_cached(
                "SELECT e.monitor_id, e.received_at, e.started_at FROM monitors m JOIN events e
                 ON e.id IN (SELECT id FROM events WHERE monitor_id = m.id AND kind = 'run'
                             ORDER BY id DESC LIMIT ?1)",
            )?;
            let mut rows = times.query([MonitorRuns::RUN_TIMES as i64])?;
            while let Some(row) = rows.next()? {
                let monitor_id: i64 = row.get(0)?;
                all.entry(monitor_id)
                    .or_default()
                    .run_times
                    .push(run_time(row.get(1)?, row.get(2)?)?);
            }
            let ids: Vec<i64> = conn
                .prepare_cached("SELECT DISTINCT monitor_id FROM live_progress")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                if let Some(progress) = progress_of(conn, id)? {
                    all.entry(id).or_default().progress = Some(progress);
                }
            }
            Ok(all)
        })
        .await
    }

    /// Deletes events received before `cutoff`; returns how many.
    ///
    /// Events are stored in arrival order, so the first one to keep is found by a binary
    /// search over the rowid (no index on the time needed); everything before it goes, in
    /// batches, each its own short transaction, so webhooks never wait behind a long delete.
    pub async fn prune_events(&self, cutoff: Timestamp) -> Result<usize, StoreError> {
        const BATCH: i64 = 2000;
        let cutoff = to_ms(cutoff);
        let boundary = self
            .read(move |conn| first_id_received_since(conn, cutoff))
            .await?;
        let mut total = 0;
        let mut from = i64::MIN;
        while from < boundary {
            let (deleted, next) = self
                .write(move |conn| {
                    // The next BATCH IDs below the boundary. The time is checked again: the
                    // boundary assumes IDs grow with arrival time, which a clock set back
                    // breaks, and nothing newer than the cutoff may go.
                    let upto: Option<i64> = conn.query_row(
                        "SELECT MAX(id) FROM (SELECT id FROM events WHERE id >= ?1 AND id < ?2
                         ORDER BY id LIMIT ?3)",
                        params![from, boundary, BATCH],
                        |r| r.get(0),
                    )?;
                    let Some(upto) = upto else {
                        return Ok((0, boundary));
                    };
                    let deleted = conn.execute(
                        "DELETE FROM events WHERE id >= ?1 AND id <= ?2 AND received_at < ?3",
                        params![from, upto, cutoff],
                    )?;
                    super::outbox::cursor_after_deletion(conn)?;
                    Ok((deleted, upto + 1))
                })
                .await?;
            total += deleted;
            from = next;
            tokio::task::yield_now().await;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BackupEvent;

    use crate::store::{
        test_insert as insert, test_run as run, test_store_with_monitor as store_with_monitor,
    };

    #[tokio::test]
    async fn pruning_rechecks_the_time_when_ids_and_times_disagree() {
        let (_dir, store, id) = store_with_monitor().await;
        let old: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let new: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        // A clock set back: the newer event got the smaller ID.
        store
            .insert_events(id, new, vec![run(Some("new"), RunStatus::Success)])
            .await
            .unwrap();
        store
            .insert_events(id, old, vec![run(Some("old"), RunStatus::Success)])
            .await
            .unwrap();
        store
            .insert_events(id, new, vec![run(Some("newest"), RunStatus::Success)])
            .await
            .unwrap();
        let deleted = store
            .prune_events("2021-01-01T00:00:00Z".parse().unwrap())
            .await
            .unwrap();
        let left: Vec<_> = store
            .events(id, None, 10)
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| e.event.source().unwrap().to_owned())
            .collect();
        assert!(
            left.contains(&"new".to_owned()),
            "a new event was pruned: {left:?}"
        );
        assert!(deleted <= 1);
    }

    #[tokio::test]
    async fn pruning_deletes_only_old_events_in_batches() {
        let (_dir, store, id) = store_with_monitor().await;
        let old: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let events = (0..4500)
            .map(|i| run(Some(&format!("s{i}")), RunStatus::Success))
            .collect();
        store.insert_events(id, old, events).await.unwrap();
        insert(&store, id, vec![run(Some("new"), RunStatus::Success)]).await;
        let deleted = store
            .prune_events("2021-01-01T00:00:00Z".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(deleted, 4500);
        let left = store.events(id, None, 10).await.unwrap().events;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event.source(), Some("new"));
    }

    #[tokio::test]
    async fn status_queries_seek_an_index_instead_of_scanning_the_history() {
        let (_dir, store, _) = store_with_monitor().await;
        let plans: Vec<String> = store
            .read(|conn| {
                let mut plans = Vec::new();
                for sql in [
                    "SELECT id FROM events WHERE monitor_id = 1 AND kind = 'run' ORDER BY id DESC LIMIT 30",
                    "SELECT id FROM events WHERE monitor_id = 1 AND kind = 'run' AND status = 'success' ORDER BY id DESC LIMIT 1",
                    "SELECT id FROM events WHERE monitor_id = 1 AND id < 5 ORDER BY id DESC LIMIT 51",
                ] {
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let details: Vec<String> =
                        stmt.query_map([], |r| r.get::<_, String>(3))?.collect::<Result<_, _>>()?;
                    plans.push(details.join("; "));
                }
                Ok(plans)
            })
            .await
            .unwrap();
        for plan in plans {
            assert!(
                plan.contains("USING") && !plan.contains("TEMP B-TREE"),
                "{plan}"
            );
        }
    }

    #[tokio::test]
    async fn all_monitor_runs_match_each_monitors_own() {
        let (_dir, store, id) = store_with_monitor().await;
        insert(
            &store,
            id,
            vec![
                run(Some("a"), RunStatus::Failed),
                run(Some("b"), RunStatus::Success),
            ],
        )
        .await;
        let start = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Start,
            RunStatus::Unknown,
        );
        insert(&store, id, vec![start]).await;
        let one = store.monitor_runs(id, 1).await.unwrap();
        let mut all = store.all_monitor_runs().await.unwrap();
        let from_all = all.remove(&id).unwrap();
        assert_eq!(from_all.latest_per_source, one.latest_per_source);
        assert_eq!(from_all.recent, one.recent);
        assert_eq!(from_all.last_success, one.last_success);
        assert_eq!(from_all.last_start, one.last_start);
        assert_eq!(from_all.last_test, one.last_test);
    }

    #[tokio::test]
    async fn pages_go_back_in_time_without_gaps() {
        let (_dir, store, id) = store_with_monitor().await;
        let events = (0..7)
            .map(|i| run(Some(&format!("s{i}")), RunStatus::Success))
            .collect();
        insert(&store, id, events).await;
        let first = store.events(id, None, 3).await.unwrap();
        let second = store.events(id, first.next_before, 3).await.unwrap();
        let third = store.events(id, second.next_before, 3).await.unwrap();
        let sources: Vec<_> = [first.events, second.events, third.events.clone()]
            .concat()
            .iter()
            .map(|e| e.event.source().unwrap().to_owned())
            .collect();
        assert_eq!(sources, ["s6", "s5", "s4", "s3", "s2", "s1", "s0"]);
        assert_eq!(third.next_before, None);
    }
}

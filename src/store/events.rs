use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind, StoredEvent};

const COLUMNS: &str = "id, received_at, sender, kind, status, source, started_at, finished_at, \
                       duration_ms, size_bytes, files, dirs, error, run_id, host, target";

/// [`COLUMNS`] of the `events` table under the alias `e`, for joins.
fn columns_of_e() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("e.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn event_from_row(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    event_from_row_at(row, 0)
}

/// Reads [`COLUMNS`] starting at column `at`.
fn event_from_row_at(row: &Row<'_>, at: usize) -> Result<StoredEvent, StoreError> {
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
    Ok(MonitorRuns {
        latest_per_source,
        recent,
        last_success: newest("kind = 'run' AND status = 'success'")?,
        last_test: newest("kind = 'test'")?,
        last_start: newest("kind = 'start'")?,
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

/// How much of a kept body a history page shows.
const BODY_HEAD: usize = 2048;

/// One page of a monitor's history, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// What a monitor's status and Home Assistant entities are computed from.
#[derive(Debug, Clone, Default)]
pub struct MonitorRuns {
    /// The newest run of each source; a run naming no source is listed with `source() == None`.
    pub latest_per_source: Vec<StoredEvent>,
    /// The newest runs, newest first, at most the monitor's history limit.
    pub recent: Vec<StoredEvent>,
    pub last_success: Option<StoredEvent>,
    pub last_test: Option<StoredEvent>,
    /// The newest `start` event; the job is running if it is newer than the newest run.
    pub last_start: Option<StoredEvent>,
}

impl Store {
    /// Stores the events of one delivery in one transaction; returns how many were new
    /// (a retried delivery with a known dedup key is not stored twice).
    ///
    /// `core_events[i]` (`(event_type, data)`) is queued for Home Assistant with `events[i]`,
    /// in the same transaction, so a stored event always gets its Core event too and a
    /// retried one does not fire twice. Empty: no Core events.
    pub async fn insert_events(
        &self,
        monitor_id: i64,
        received_at: Timestamp,
        events: Vec<BackupEvent>,
        core_events: Vec<(String, String)>,
    ) -> Result<usize, StoreError> {
        self.write(move |conn| {
            let mut queue = conn.prepare_cached(
                "INSERT INTO core_events (event_type, data, created_at) VALUES (?1, ?2, ?3)",
            )?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO events (monitor_id, received_at, sender, kind, status, source, started_at,
                     finished_at, duration_ms, size_bytes, files, dirs, error, dedup_key, raw, run_id, host, target)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 ON CONFLICT DO NOTHING",
            )?;
            let mut latest = conn.prepare_cached(
                "INSERT INTO latest_runs (monitor_id, source, event_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (monitor_id, source) DO UPDATE SET event_id = excluded.event_id",
            )?;
            let mut stored = 0;
            for (i, event) in events.iter().enumerate() {
                let inserted = insert.execute(params![
                    monitor_id,
                    to_ms(received_at),
                    event.sender().as_str(),
                    event.kind().as_str(),
                    event.status().as_str(),
                    event.source(),
                    event.started_at().map(to_ms),
                    event.finished_at().map(to_ms),
                    event.duration_ms(),
                    event.size_bytes(),
                    event.files(),
                    event.dirs(),
                    event.error(),
                    event.dedup_key(),
                    event.raw(),
                    event.run_id(),
                    event.host(),
                    event.target(),
                ])?;
                if inserted == 0 {
                    // A retried delivery: already stored.
                    continue;
                }
                stored += 1;
                let event_id = conn.last_insert_rowid();
                if let Some((event_type, data)) = core_events.get(i) {
                    queue.execute(params![event_type, data, to_ms(received_at)])?;
                }
                if event.kind() == EventKind::Run {
                    latest.execute(params![monitor_id, event.source().unwrap_or(""), event_id])?;
                }
            }
            Ok(stored)
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
            let e = columns_of_e();
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
        loop {
            let deleted = self
                .write(move |conn| {
                    Ok(conn.execute(
                        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < ?1 ORDER BY id LIMIT ?2)",
                        params![boundary, BATCH],
                    )?)
                })
                .await?;
            total += deleted;
            if (deleted as i64) < BATCH {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_monitor() -> (tempfile::TempDir, Store, i64) {
        crate::store::test_store_with_monitor().await
    }

    async fn insert(store: &Store, monitor_id: i64, events: Vec<BackupEvent>) -> usize {
        store
            .insert_events(monitor_id, Timestamp::now(), events, vec![])
            .await
            .unwrap()
    }

    fn run(source: Option<&str>, status: RunStatus) -> BackupEvent {
        let e = BackupEvent::new(SenderKind::Generic, EventKind::Run, status);
        match source {
            Some(s) => e.with_source(s),
            None => e,
        }
    }

    #[tokio::test]
    async fn latest_run_per_source_is_kept() {
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
        insert(&store, id, vec![run(Some("a"), RunStatus::Success)]).await;
        insert(&store, id, vec![run(None, RunStatus::Failed)]).await;
        let runs = store.monitor_runs(id, 10).await.unwrap();
        let mut latest: Vec<_> = runs
            .latest_per_source
            .iter()
            .map(|e| (e.event.source().map(str::to_owned), e.event.status()))
            .collect();
        latest.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            latest,
            [
                (None, RunStatus::Failed),
                (Some("a".into()), RunStatus::Success),
                (Some("b".into()), RunStatus::Success)
            ]
        );
        assert_eq!(runs.recent.len(), 4);
        assert_eq!(runs.last_success.unwrap().event.source(), Some("a"));
    }

    #[tokio::test]
    async fn a_retried_delivery_is_stored_once_and_fires_one_core_event() {
        let (_dir, store, id) = store_with_monitor().await;
        let delivery = || vec![run(Some("a"), RunStatus::Success).with_dedup_key("sb:42")];
        let core = || vec![("kopia_webhook_event".to_owned(), "{}".to_owned())];
        let first = store
            .insert_events(id, Timestamp::now(), delivery(), core())
            .await
            .unwrap();
        let retry = store
            .insert_events(id, Timestamp::now(), delivery(), core())
            .await
            .unwrap();
        assert_eq!((first, retry), (1, 0));
        assert_eq!(store.events(id, None, 10).await.unwrap().events.len(), 1);
        assert_eq!(
            store
                .due_core_events(Timestamp::now(), 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn pruning_deletes_only_old_events_in_batches() {
        let (_dir, store, id) = store_with_monitor().await;
        let old: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let events = (0..4500)
            .map(|i| run(Some(&format!("s{i}")), RunStatus::Success))
            .collect();
        store.insert_events(id, old, events, vec![]).await.unwrap();
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
        let start = BackupEvent::new(SenderKind::Generic, EventKind::Start, RunStatus::Unknown);
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

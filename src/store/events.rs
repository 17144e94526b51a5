use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{CachedStatement, Connection, OptionalExtension, Row, params};

use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::{
    BackupEvent, EventKind, Figures, LiveProgress, MonitorRuns, Progress, RunStatus, RunTime,
    SenderKind, ShrinkRule, StoredEvent,
};

const COLUMNS: &str = "id, received_at, sender, kind, status, source, started_at, finished_at, \
                       duration_ms, size_bytes, files, dirs, error, run_id, host, target";

/// [`COLUMNS`] of the `events` table under the alias `e`, for joins.
pub(super) fn columns_of_e() -> String {
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

/// Statements of one delivery's write; see [`Store::ingest`].
fn ingest_in(conn: &Connection, delivery: Delivery) -> Result<Ingested, StoreError> {
    let Delivery {
        monitor_id,
        received_at,
        events,
        fire_core_events,
        shrink,
    } = delivery;
    // Prepared on first use: a delivery usually needs half of them (a finish without an
    // open start never reads `known`, a run never writes `open_starts`).
    let mut known = Lazy::new(
        conn,
        "SELECT 1 FROM events WHERE monitor_id = ?1 AND dedup_key = ?2",
    );
    let mut open_start = Lazy::new(
        conn,
        "SELECT received_at, source FROM open_starts WHERE monitor_id = ?1 AND run_key = ?2",
    );
    let mut close_start = Lazy::new(
        conn,
        "DELETE FROM open_starts WHERE monitor_id = ?1 AND run_key = ?2",
    );
    let mut open = Lazy::new(
        conn,
        "INSERT INTO open_starts (monitor_id, run_key, event_id, received_at, source)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (monitor_id, run_key) DO UPDATE SET event_id = excluded.event_id,
             received_at = excluded.received_at, source = excluded.source",
    );
    let mut insert = Lazy::new(
        conn,
        "INSERT INTO events (monitor_id, received_at, sender, kind, status, source, started_at,
             finished_at, duration_ms, size_bytes, files, dirs, error, dedup_key, raw, run_id, host, target)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT DO NOTHING",
    );
    let mut latest = Lazy::new(
        conn,
        "INSERT INTO latest_runs (monitor_id, source, event_id, success_event_id, figures)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (monitor_id, source) DO UPDATE SET event_id = excluded.event_id,
             success_event_id = COALESCE(excluded.success_event_id, latest_runs.success_event_id),
             figures = COALESCE(excluded.figures, latest_runs.figures)",
    );
    let mut usual = Lazy::new(
        conn,
        "SELECT figures FROM latest_runs WHERE monitor_id = ?1 AND source = ?2",
    );
    let mut queue = Lazy::new(
        conn,
        "INSERT INTO core_events (event_id, created_at) VALUES (?1, ?2)",
    );
    let received_ms = to_ms(received_at);
    let mut outcome = Ingested::default();
    for mut event in events {
        if let Some(progress) = event.progress() {
            live_progress(conn, monitor_id, received_ms, &event, progress)?;
            outcome.progressed += 1;
            continue;
        }
        let run_key = event.run_id().unwrap_or("").to_owned();
        let start = if event.kind() == EventKind::Run {
            open_start
                .get()?
                .query_row(params![monitor_id, run_key], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .optional()?
                .filter(|(_, start_source)| {
                    event.source().is_none()
                        || start_source.is_none()
                        || event.source() == start_source.as_deref()
                })
        } else {
            None
        };
        if let Some((started_ms, _)) = start {
            // A retried finish must not close the start of a run still going: a duplicate is
            // recognised before the start is touched. (Everything else relies on the insert's
            // ON CONFLICT: one statement less per event.)
            if let Some(key) = event.dedup_key()
                && known
                    .get()?
                    .exists(params![monitor_id, stored_dedup_key(key)])?
            {
                outcome.duplicates += 1;
                continue;
            }
            close_start.get()?.execute(params![monitor_id, run_key])?;
            let started = from_ms(started_ms)?;
            let fresh = received_at.duration_since(started) < BackupEvent::MAX_PAIRED_DURATION;
            if fresh && event.started_at().is_none() {
                let finished = event.finished_at().unwrap_or(received_at);
                event = event.with_times(Some(started), Some(finished));
                outcome.paired += 1;
            }
        }
        // A successful run is judged against its source's usual figures, read with the
        // primary key (the same row the run updates below).
        let figures = Figures::of(&event);
        let mut usual_figures = Vec::new();
        if figures.is_some() {
            let stored: Option<Vec<u8>> = usual
                .get()?
                .query_row(params![monitor_id, event.source().unwrap_or("")], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten();
            usual_figures = stored.as_deref().map(decode_figures).unwrap_or_default();
            if let Some(why) = shrink.judge(&event, &usual_figures) {
                event = event.with_warning(why);
            }
        }
        let inserted = insert.get()?.execute(params![
            monitor_id,
            received_ms,
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
            event.dedup_key().map(stored_dedup_key),
            event.raw(),
            event.run_id(),
            event.host(),
            event.target(),
        ])?;
        if inserted == 0 {
            outcome.duplicates += 1;
            continue;
        }
        outcome.stored += 1;
        let event_id = conn.last_insert_rowid();
        match event.kind() {
            EventKind::Start => {
                open.get()?.execute(params![
                    monitor_id,
                    run_key,
                    event_id,
                    received_ms,
                    event.source()
                ])?;
            }
            // A body nobody understood concerns the whole monitor until a newer run says
            // otherwise, like a run that names no source.
            EventKind::Run | EventKind::Unrecognized => {
                let success = (event.kind() == EventKind::Run
                    && event.status() == RunStatus::Success)
                    .then_some(event_id);
                let figures = figures.map(|new| {
                    usual_figures.push(new);
                    let keep = usual_figures
                        .len()
                        .saturating_sub(ShrinkRule::MAX_RUNS as usize);
                    encode_figures(&usual_figures[keep..])
                });
                latest.get()?.execute(params![
                    monitor_id,
                    event.source().unwrap_or(""),
                    event_id,
                    success,
                    figures
                ])?;
            }
            EventKind::Log | EventKind::Test | EventKind::Progress => {}
        }
        if fire_core_events {
            queue.get()?.execute(params![event_id, received_ms])?;
        }
    }
    if (outcome.stored > 0 || outcome.progressed > 0)
        && !BUMPED.with_borrow(|b| b.contains(&monitor_id))
    {
        conn.prepare_cached("UPDATE monitors SET entities_due = entities_due + 1 WHERE id = ?1")?
            .execute([monitor_id])?;
        BUMPED.with_borrow_mut(|b| b.push(monitor_id));
    }
    Ok(outcome)
}

/// A cached statement prepared on its first use.
struct Lazy<'c> {
    conn: &'c Connection,
    sql: &'static str,
    statement: Option<CachedStatement<'c>>,
}

impl<'c> Lazy<'c> {
    fn new(conn: &'c Connection, sql: &'static str) -> Self {
        Self {
            conn,
            sql,
            statement: None,
        }
    }

    fn get(&mut self) -> Result<&mut CachedStatement<'c>, StoreError> {
        let statement = match self.statement.take() {
            Some(statement) => statement,
            None => self.conn.prepare_cached(self.sql)?,
        };
        Ok(self.statement.insert(statement))
    }
}

thread_local! {
    /// Monitors whose `entities_due` the writer's current transaction has bumped: the
    /// evaluator only needs to see it change, so once per transaction is enough (a batch
    /// of reports to one monitor otherwise rewrites its row for each).
    static BUMPED: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The writer began a transaction: nothing is bumped in it yet.
pub(super) fn transaction_began() {
    BUMPED.with_borrow_mut(Vec::clear);
}

/// What the unique index holds of a sender's dedup key: 96 bits of its SHA-256, so a long
/// key (Kopia's host, path, start and subject digest) costs the index 16 bytes.
pub(super) fn stored_dedup_key(key: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// Keeps a running backup's newest progress report, or drops it when the run is over.
fn live_progress(
    conn: &Connection,
    monitor_id: i64,
    received_ms: i64,
    event: &BackupEvent,
    progress: &Progress,
) -> Result<(), StoreError> {
    let source = event.source().unwrap_or("");
    if progress.done {
        conn.prepare_cached("DELETE FROM live_progress WHERE monitor_id = ?1 AND source = ?2")?
            .execute(params![monitor_id, source])?;
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO live_progress (monitor_id, source, phase, fraction, files_done,
             files_total, bytes_done, bytes_total, started_at, reported_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        monitor_id,
        source,
        progress.phase,
        progress.fraction,
        event.files(),
        progress.files_total,
        event.size_bytes(),
        progress.bytes_total,
        event.started_at().map(to_ms),
        received_ms,
    ])?;
    Ok(())
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

/// Figures as kept in `latest_runs.figures`: 16 bytes a run, size then files, little-endian
/// `i64`, `i64::MIN` for a figure the run did not report. A blob, not JSON: it is read and
/// rewritten by every successful run, on the writer thread.
fn encode_figures(figures: &[Figures]) -> Vec<u8> {
    let mut out = Vec::with_capacity(figures.len() * 16);
    for f in figures {
        out.extend_from_slice(&f.size.unwrap_or(i64::MIN).to_le_bytes());
        out.extend_from_slice(&f.files.unwrap_or(i64::MIN).to_le_bytes());
    }
    out
}

fn decode_figures(bytes: &[u8]) -> Vec<Figures> {
    let value = |chunk: &[u8]| {
        let n = i64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        (n != i64::MIN).then_some(n)
    };
    bytes
        .chunks_exact(16)
        .map(|run| Figures {
            size: value(&run[..8]),
            files: value(&run[8..]),
        })
        .collect()
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

/// The events of one delivery, stored in one write.
#[derive(Debug)]
pub struct Delivery {
    pub monitor_id: i64,
    pub received_at: Timestamp,
    pub events: Vec<BackupEvent>,
    /// Queue a Home Assistant event for each newly stored event.
    pub fire_core_events: bool,
    /// The monitor's rule for successful runs that backed up far less than usual.
    pub shrink: ShrinkRule,
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Events stored now.
    pub stored: usize,
    /// Events stored before (a retried delivery): not stored again.
    pub duplicates: usize,
    /// Runs that found their start (and so got a start time and a duration).
    pub paired: usize,
    /// Progress reports of a running backup (kept apart from the history).
    pub progressed: usize,
}

impl Store {
    /// Stores a delivery in one write: each run is paired with its open start (same run ID,
    /// or both without), the events are inserted (a retried delivery with a known dedup key is
    /// not stored twice), each source's newest run is kept, a Home Assistant event is queued
    /// per new event, and the monitor's entities are marked due. `after_commit` runs on the
    /// writer right after the COMMIT. A full writer queue is [`StoreError::Busy`].
    pub async fn ingest(
        &self,
        delivery: Delivery,
        after_commit: impl FnOnce(&Ingested) + Send + 'static,
    ) -> Result<Ingested, StoreError> {
        self.try_write_then(move |conn| ingest_in(conn, delivery), after_commit)
            .await
    }

    /// Stores events as received at `received_at`, with no Home Assistant events: for
    /// importing, seeding benchmarks and tests. Waits for room in the writer's queue.
    pub async fn insert_events(
        &self,
        monitor_id: i64,
        received_at: Timestamp,
        events: Vec<BackupEvent>,
    ) -> Result<Ingested, StoreError> {
        let delivery = Delivery {
            monitor_id,
            received_at,
            events,
            fire_core_events: false,
            shrink: ShrinkRule::DEFAULT,
        };
        self.write(move |conn| ingest_in(conn, delivery)).await
    }

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
    use crate::store::CoreEventSubject;

    async fn store_with_monitor() -> (tempfile::TempDir, Store, i64) {
        crate::store::test_store_with_monitor().await
    }

    async fn insert(store: &Store, monitor_id: i64, events: Vec<BackupEvent>) -> usize {
        store
            .insert_events(monitor_id, Timestamp::now(), events)
            .await
            .unwrap()
            .stored
    }

    fn run(source: Option<&str>, status: RunStatus) -> BackupEvent {
        let e = BackupEvent::new(SenderKind::Generic, EventKind::Run, status);
        match source {
            Some(s) => e.with_source(s),
            None => e,
        }
    }

    #[test]
    fn figures_survive_their_encoding() {
        let figures = vec![
            Figures {
                size: Some(1_500_000_000),
                files: None,
            },
            Figures {
                size: None,
                files: Some(0),
            },
        ];
        assert_eq!(decode_figures(&encode_figures(&figures)), figures);
        assert!(
            decode_figures(&[1, 2, 3]).is_empty(),
            "a torn value is no value"
        );
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

    fn delivery(monitor_id: i64, events: Vec<BackupEvent>) -> Delivery {
        Delivery {
            monitor_id,
            received_at: Timestamp::now(),
            events,
            fire_core_events: true,
            shrink: ShrinkRule::DEFAULT,
        }
    }

    #[tokio::test]
    async fn a_retried_delivery_is_stored_once_and_fires_one_core_event() {
        let (_dir, store, id) = store_with_monitor().await;
        let events = || vec![run(Some("a"), RunStatus::Success).with_dedup_key("sb:42")];
        let first = store.ingest(delivery(id, events()), |_| {}).await.unwrap();
        let retry = store.ingest(delivery(id, events()), |_| {}).await.unwrap();
        assert_eq!((first.stored, retry.stored, retry.duplicates), (1, 0, 1));
        assert_eq!(store.events(id, None, 10).await.unwrap().events.len(), 1);
        let due = store.due_core_events(Timestamp::now(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(matches!(
            &due[0].what,
            CoreEventSubject::Event { event, .. } if event.event.source() == Some("a")
        ));
    }

    #[tokio::test]
    async fn after_commit_runs_once_the_events_are_readable() {
        let (_dir, store, id) = store_with_monitor().await;
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = store.clone();
        store
            .ingest(
                delivery(id, vec![run(Some("a"), RunStatus::Success)]),
                move |done| {
                    tx.send(done.stored).unwrap();
                },
            )
            .await
            .unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        assert_eq!(reader.events(id, None, 10).await.unwrap().events.len(), 1);
        let due = store.due_monitors().await.unwrap();
        assert!(
            due.iter().any(|(m, n)| *m == id && *n > 0),
            "entities marked due: {due:?}"
        );
    }

    fn ping(kind: EventKind, rid: &str) -> BackupEvent {
        let status = match kind {
            EventKind::Run => RunStatus::Success,
            _ => RunStatus::Unknown,
        };
        BackupEvent::new(SenderKind::Healthchecks, kind, status).with_run_id(rid)
    }

    #[tokio::test]
    async fn overlapping_runs_each_pair_with_their_own_start() {
        let (_dir, store, id) = store_with_monitor().await;
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let send = |e: BackupEvent, s: i64| {
            let store = store.clone();
            async move { store.insert_events(id, at(s), vec![e]).await.unwrap() }
        };
        send(ping(EventKind::Start, "a"), 0).await;
        send(ping(EventKind::Start, "b"), 10).await;
        assert_eq!(send(ping(EventKind::Run, "a"), 100).await.paired, 1);
        assert_eq!(send(ping(EventKind::Run, "b"), 130).await.paired, 1);
        let runs = store.monitor_runs(id, 10).await.unwrap().recent;
        let durations: Vec<_> = runs
            .iter()
            .map(|r| (r.event.run_id().unwrap().to_owned(), r.event.duration_ms()))
            .collect();
        assert_eq!(
            durations,
            [("b".into(), Some(120_000)), ("a".into(), Some(100_000))]
        );
        // A finish that comes again finds no start left to pair with.
        assert_eq!(send(ping(EventKind::Run, "a"), 200).await.paired, 0);
    }

    #[tokio::test]
    async fn a_retried_finish_leaves_the_next_runs_start_open() {
        let (_dir, store, id) = store_with_monitor().await;
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let finish = || ping(EventKind::Run, "a").with_dedup_key("finish-1");
        store
            .insert_events(id, at(0), vec![ping(EventKind::Start, "a")])
            .await
            .unwrap();
        store
            .insert_events(id, at(10), vec![finish()])
            .await
            .unwrap();
        store
            .insert_events(id, at(20), vec![ping(EventKind::Start, "a")])
            .await
            .unwrap();
        let retried = store
            .insert_events(id, at(25), vec![finish()])
            .await
            .unwrap();
        assert_eq!((retried.stored, retried.duplicates), (0, 1));
        let next = store
            .insert_events(id, at(80), vec![ping(EventKind::Run, "a")])
            .await
            .unwrap();
        assert_eq!(next.paired, 1, "the second run still found its start");
    }

    #[tokio::test]
    async fn a_start_older_than_the_pairing_limit_gives_no_duration() {
        let (_dir, store, id) = store_with_monitor().await;
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let late = start + jiff::SignedDuration::from_hours(73);
        store
            .insert_events(id, start, vec![ping(EventKind::Start, "x")])
            .await
            .unwrap();
        let done = store
            .insert_events(id, late, vec![ping(EventKind::Run, "x")])
            .await
            .unwrap();
        assert_eq!(done.paired, 0);
    }

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

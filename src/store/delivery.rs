//! The delivery's write: one job on the writer per delivery, in one transaction. Each run is
//! paired with its open start, judged against its source's usual figures, stored unless it
//! is a resend, kept as its source's newest run, queued as a Home Assistant event, and its
//! monitor marked due. The rules (pairing, shrinking) are the domain's; this stores.

use jiff::Timestamp;
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::{
    BackupEvent, EventKind, Figures, Progress, RunStatus, ShrinkRule, judge_duration,
};

/// The events of one delivery, stored in one write.
#[derive(Debug)]
pub struct Delivery {
    pub monitor_id: i64,
    pub received_at: Timestamp,
    pub events: Vec<BackupEvent>,
    /// Each newly stored event is for Home Assistant's bus (the outbox fires the events
    /// marked so, in order, after its cursor).
    pub fire_core_events: bool,
    /// The monitor's rule for successful runs that backed up far less than usual.
    pub shrink: ShrinkRule,
    /// Successful runs far longer or shorter than usual are warnings.
    pub unusual_durations: bool,
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
        self.submit(
            move |conn| ingest_in(conn, delivery),
            after_commit,
            super::WhenFull::Busy,
        )
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
            unusual_durations: true,
        };
        self.write(move |conn| ingest_in(conn, delivery)).await
    }
}

/// Stores one delivery; see [`Store::ingest`].
fn ingest_in(conn: &Connection, delivery: Delivery) -> Result<Ingested, StoreError> {
    let mut write = DeliveryWrite::new(conn, &delivery);
    let mut outcome = Ingested::default();
    for event in delivery.events {
        write.store(event, &mut outcome)?;
    }
    write.mark_due(&outcome)?;
    Ok(outcome)
}

/// The statements of one delivery's write, each prepared on first use: a delivery usually
/// needs half of them (a finish without an open start never reads `known`, a run never
/// writes `open_starts`).
struct DeliveryWrite<'c> {
    conn: &'c Connection,
    monitor_id: i64,
    received_at: Timestamp,
    received_ms: i64,
    fire_core_events: bool,
    shrink: ShrinkRule,
    unusual_durations: bool,
    known: PreparedOnce<'c>,
    open_start: PreparedOnce<'c>,
    close_start: PreparedOnce<'c>,
    open: PreparedOnce<'c>,
    insert: PreparedOnce<'c>,
    latest: PreparedOnce<'c>,
    usual: PreparedOnce<'c>,
}

impl<'c> DeliveryWrite<'c> {
    fn new(conn: &'c Connection, delivery: &Delivery) -> Self {
        let statement = |sql| PreparedOnce::new(conn, sql);
        Self {
            conn,
            monitor_id: delivery.monitor_id,
            received_at: delivery.received_at,
            received_ms: to_ms(delivery.received_at),
            fire_core_events: delivery.fire_core_events,
            shrink: delivery.shrink,
            unusual_durations: delivery.unusual_durations,
            known: statement("SELECT 1 FROM events WHERE monitor_id = ?1 AND dedup_key = ?2"),
            open_start: statement(
                "SELECT received_at, source FROM open_starts WHERE monitor_id = ?1 AND run_key = ?2",
            ),
            close_start: statement("DELETE FROM open_starts WHERE monitor_id = ?1 AND run_key = ?2"),
            open: statement(
                "INSERT INTO open_starts (monitor_id, run_key, event_id, received_at, source)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (monitor_id, run_key) DO UPDATE SET event_id = excluded.event_id,
                     received_at = excluded.received_at, source = excluded.source",
            ),
            insert: statement(
                "INSERT INTO events (monitor_id, received_at, sender, kind, status, source, started_at,
                     finished_at, duration_ms, size_bytes, files, dirs, error, dedup_key, raw, run_id, host, target,
                     to_core)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
                 ON CONFLICT DO NOTHING",
            ),
            latest: statement(
                "INSERT INTO latest_runs (monitor_id, source, event_id, success_event_id, figures)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (monitor_id, source) DO UPDATE SET event_id = excluded.event_id,
                     success_event_id = COALESCE(excluded.success_event_id, latest_runs.success_event_id),
                     figures = COALESCE(excluded.figures, latest_runs.figures)",
            ),
            usual: statement("SELECT figures FROM latest_runs WHERE monitor_id = ?1 AND source = ?2"),
        }
    }

    /// One event of the delivery.
    fn store(&mut self, mut event: BackupEvent, outcome: &mut Ingested) -> Result<(), StoreError> {
        if let Some(progress) = event.progress() {
            live_progress(
                self.conn,
                self.monitor_id,
                self.received_ms,
                &event,
                progress,
            )?;
            outcome.progressed += 1;
            return Ok(());
        }
        let run_key = event.run_id().unwrap_or("").to_owned();
        if let Some(started_ms) = self.open_start_ended_by(&event, &run_key)? {
            // A retried finish must not close the start of a run still going: a duplicate is
            // recognised before the start is touched. (Everything else relies on the insert's
            // ON CONFLICT: one statement less per event.)
            if self.is_known(&event)? {
                outcome.duplicates += 1;
                return Ok(());
            }
            self.close_start
                .get()?
                .execute(params![self.monitor_id, run_key])?;
            let (paired, was_paired) =
                event.paired_with_start(from_ms(started_ms)?, self.received_at);
            event = paired;
            outcome.paired += usize::from(was_paired);
        }
        // A successful run is judged against its source's usual figures, read with the
        // primary key (the same row the run updates below).
        let figures = Figures::of(&event);
        let mut usual = Vec::new();
        if figures.is_some() {
            usual = self.usual_figures(&event)?;
            if let Some(why) = self.shrink.judge(&event, &usual) {
                event = event.with_warning(why);
            } else if self.unusual_durations
                && let Some(why) = judge_duration(&event, &usual, self.shrink.runs() as usize)
            {
                event = event.with_warning(why);
            }
        }
        let Some(event_id) = self.insert(&event)? else {
            outcome.duplicates += 1;
            return Ok(());
        };
        outcome.stored += 1;
        self.keep(&event, event_id, &run_key, figures, usual)?;
        Ok(())
    }

    /// When the start this run ends arrived, if one is open under its run ID.
    fn open_start_ended_by(
        &mut self,
        event: &BackupEvent,
        run_key: &str,
    ) -> Result<Option<i64>, StoreError> {
        // A check ends its start too (borgmatic pings `start` before a check-only run).
        if !matches!(event.kind(), EventKind::Run | EventKind::Check) {
            return Ok(None);
        }
        let start = self
            .open_start
            .get()?
            .query_row(params![self.monitor_id, run_key], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()?;
        Ok(start
            .filter(|(_, source)| event.ends_start_of(source.as_deref()))
            .map(|(received_ms, _)| received_ms))
    }

    fn is_known(&mut self, event: &BackupEvent) -> Result<bool, StoreError> {
        let Some(key) = event.dedup_key() else {
            return Ok(false);
        };
        Ok(self
            .known
            .get()?
            .exists(params![self.monitor_id, stored_dedup_key(key)])?)
    }

    /// The figures of the source's last successful runs, oldest first.
    fn usual_figures(&mut self, event: &BackupEvent) -> Result<Vec<Figures>, StoreError> {
        let stored: Option<Vec<u8>> = self
            .usual
            .get()?
            .query_row(
                params![self.monitor_id, event.source().unwrap_or("")],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(stored.as_deref().map(decode_figures).unwrap_or_default())
    }

    /// Inserts the event; `None` when a resend (its dedup key is known).
    fn insert(&mut self, event: &BackupEvent) -> Result<Option<i64>, StoreError> {
        let inserted = self.insert.get()?.execute(params![
            self.monitor_id,
            self.received_ms,
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
            self.fire_core_events,
        ])?;
        Ok((inserted > 0).then(|| self.conn.last_insert_rowid()))
    }

    /// A start stays open for its run; a run becomes its source's newest (and, successful,
    /// adds its figures to the usual ones).
    fn keep(
        &mut self,
        event: &BackupEvent,
        event_id: i64,
        run_key: &str,
        figures: Option<Figures>,
        usual: Vec<Figures>,
    ) -> Result<(), StoreError> {
        match event.kind() {
            EventKind::Start => {
                self.open.get()?.execute(params![
                    self.monitor_id,
                    run_key,
                    event_id,
                    self.received_ms,
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
                    let keep = (usual.len() + 1).saturating_sub(ShrinkRule::MAX_RUNS as usize);
                    encode_figures(usual[keep..].iter().chain([&new]))
                });
                self.latest.get()?.execute(params![
                    self.monitor_id,
                    event.source().unwrap_or(""),
                    event_id,
                    success,
                    figures
                ])?;
            }
            // A check has its own clock (the newest check is read when needed).
            EventKind::Log | EventKind::Test | EventKind::Progress | EventKind::Check => {}
        }
        Ok(())
    }

    /// The monitor's entities are due, once per transaction.
    fn mark_due(&self, outcome: &Ingested) -> Result<(), StoreError> {
        let monitor_id = self.monitor_id;
        if (outcome.stored > 0 || outcome.progressed > 0)
            && !DUE_MARKED_IN_TRANSACTION.with_borrow(|b| b.contains(&monitor_id))
        {
            self.conn
                .prepare_cached(
                    "UPDATE monitors SET entities_due = entities_due + 1 WHERE id = ?1",
                )?
                .execute([monitor_id])?;
            DUE_MARKED_IN_TRANSACTION.with_borrow_mut(|b| b.push(monitor_id));
        }
        Ok(())
    }
}

/// A cached statement prepared on its first use.
struct PreparedOnce<'c> {
    conn: &'c Connection,
    sql: &'static str,
    statement: Option<CachedStatement<'c>>,
}

impl<'c> PreparedOnce<'c> {
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
    static DUE_MARKED_IN_TRANSACTION: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The writer began a transaction: nothing is bumped in it yet.
pub(super) fn transaction_began() {
    DUE_MARKED_IN_TRANSACTION.with_borrow_mut(Vec::clear);
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

/// Figures as kept in `latest_runs.figures`: a version byte (3), then 16 bytes a run,
/// little-endian: size (`i64`, `i64::MIN` if the run did not report one), files and duration
/// in ms (`u32`, `u32::MAX` if not reported; more is kept as `u32::MAX - 1`, 49 days for a
/// duration). A blob, not JSON: it is read and rewritten by every successful run, on the
/// writer thread. Small because SQLite moves a row of more than about 1,000 bytes partly to
/// an overflow page, one more page read and written per report: fifty runs of the 24 bytes
/// of version 2 (converted by migration 017) took 1.2 kB.
pub(super) fn encode_figures<'a>(figures: impl IntoIterator<Item = &'a Figures>) -> Vec<u8> {
    let figures = figures.into_iter();
    let narrow = |value: Option<i64>| {
        value.map_or(u32::MAX, |n| {
            u32::try_from(n.max(0)).map_or(u32::MAX - 1, |n| n.min(u32::MAX - 1))
        })
    };
    let mut out = Vec::with_capacity(1 + figures.size_hint().0 * 16);
    out.push(FIGURES_VERSION);
    for f in figures {
        let mut run = [0; 16];
        run[..8].copy_from_slice(&f.size.unwrap_or(i64::MIN).to_le_bytes());
        run[8..12].copy_from_slice(&narrow(f.files).to_le_bytes());
        run[12..].copy_from_slice(&narrow(f.duration).to_le_bytes());
        out.extend_from_slice(&run);
    }
    out
}

const FIGURES_VERSION: u8 = 3;

/// The figures of `encode_figures`; anything else (another version) is none.
pub(super) fn decode_figures(bytes: &[u8]) -> Vec<Figures> {
    let Some((&FIGURES_VERSION, runs)) = bytes.split_first() else {
        return Vec::new();
    };
    let wide = |bytes: &[u8]| {
        let n = u32::from_le_bytes(bytes.try_into().unwrap_or([0xff; 4]));
        (n != u32::MAX).then_some(i64::from(n))
    };
    runs.chunks_exact(16)
        .map(|run| {
            let size = i64::from_le_bytes(run[..8].try_into().unwrap_or([0; 8]));
            Figures {
                size: (size != i64::MIN).then_some(size),
                files: wide(&run[8..12]),
                duration: wide(&run[12..]),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SenderKind;
    use crate::store::CoreEventSubject;

    use crate::store::{
        test_insert as insert, test_run as run, test_store_with_monitor as store_with_monitor,
    };

    #[test]
    fn figures_survive_their_encoding() {
        let figures = vec![
            Figures {
                size: Some(1_500_000_000_000),
                files: None,
                duration: Some(1_200_000),
            },
            Figures {
                size: None,
                files: Some(0),
                duration: None,
            },
            Figures {
                size: Some(-1),
                files: Some(-5),
                duration: Some(60 * 24 * 3_600_000),
            },
            Figures {
                size: Some(0),
                files: Some(i64::from(u32::MAX)),
                duration: Some(i64::from(u32::MAX - 1)),
            },
        ];
        let mut expected = figures.clone();
        // No negative count; a duration of 60 days is kept as the longest one, 49 days; the
        // largest u32 stays a count, not "not reported".
        expected[2].files = Some(0);
        expected[2].duration = Some(i64::from(u32::MAX - 1));
        expected[3].files = Some(i64::from(u32::MAX - 1));
        assert_eq!(decode_figures(&encode_figures(&figures)), expected);
        assert!(decode_figures(&[]).is_empty());
        assert_eq!(
            decode_figures(&encode_figures(&figures)[..20]).len(),
            1,
            "a torn run is no run"
        );
        assert!(decode_figures(&[2; 25]).is_empty(), "not this version");
    }

    /// A source's row stays within one page: SQLite keeps at most 1,002 bytes of a row on a
    /// 4 KiB table page and moves the rest to an overflow page.
    #[test]
    fn fifty_runs_of_large_figures_fit_in_a_row() {
        let run = Figures {
            size: Some(40_000_000_000_000), // 40 TB
            files: Some(50_000_000),
            duration: Some(3 * 24 * 3_600_000), // three days
        };
        let blob = encode_figures(&vec![run; ShrinkRule::MAX_RUNS as usize]);
        assert!(blob.len() < 900, "{} bytes", blob.len());
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
            unusual_durations: true,
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
        BackupEvent::new(SenderKind::named("healthchecks"), kind, status).with_run_id(rid)
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
}

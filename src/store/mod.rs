//! SQLite storage: one writer thread that commits concurrent writes together (group commit),
//! and readers on tokio's blocking pool. WAL lets readers run while the writer commits.
//!
//! Durability: WAL with `synchronous = NORMAL`. A webhook is answered only after its
//! transaction committed, so it survives a crash of the add-on (tested with `kill -9`) and a
//! restart of the container. The WAL is synced to disk by the checkpoint thread every second,
//! so a power cut or kernel crash can lose at most the last second of answered webhooks. With
//! `FULL` every group commit would wait for an fsync: on an SD card that is tens of
//! milliseconds per batch, for a guarantee that only matters in the second before a power cut.

mod delivery;
mod history;
mod monitors;
mod notifications;
mod outbox;
mod rejections;
mod settings;
mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{HookError, HookResult, M, Migrations};
use tokio::sync::{mpsc as bounded, oneshot};

pub use delivery::{Delivery, Ingested};
pub use history::EventPage;
pub use notifications::{DueNotification, Notice};
pub use outbox::{CoreEventRef, CoreEventSubject, DueCoreEvent, DueState, PushStatus};
pub use rejections::{HEAD_BYTES as REJECTION_HEAD_BYTES, Rejection};
pub use snapshot::{restore_if_missing, snapshot};

fn migrations() -> Migrations<'static> {
    Migrations::new(migration_steps())
}

fn migration_steps() -> Vec<M<'static>> {
    vec![
        M::up(include_str!("migrations/001_init.sql")),
        M::up(include_str!("migrations/002_schedules_outbox.sql")),
        M::up(include_str!("migrations/003_rejections_run_ids.sql")),
        M::up(include_str!("migrations/004_event_host_target.sql")),
        M::up(include_str!("migrations/005_index_runs_by_kind.sql")),
        M::up(include_str!("migrations/006_fewer_event_indexes.sql")),
        M::up(include_str!("migrations/007_ingest_in_one_write.sql")),
        M::up(include_str!("migrations/008_slugs_ping_key.sql")),
        M::up(include_str!("migrations/009_alerts.sql")),
        M::up(include_str!("migrations/010_live_progress.sql")),
        M::up_with_hook(
            include_str!("migrations/011_checks_as_comparisons.sql"),
            checks_as_comparisons,
        ),
        M::up_with_hook(
            include_str!("migrations/012_dedup_keys_hashed.sql"),
            dedup_keys_hashed,
        ),
        M::up(include_str!("migrations/013_core_events_cursor.sql")),
        M::up(include_str!("migrations/014_overview_key.sql")),
        M::up(include_str!("migrations/015_durations_pauses.sql")),
        M::up_with_hook(include_str!("migrations/016_checks.sql"), checks_kept),
        M::up_with_hook(
            include_str!("migrations/017_figures_compact.sql"),
            figures_compact,
        ),
    ]
}

/// Migration 012: dedup keys written before the unique index held 96 bits of their SHA-256
/// are hashed like new ones, so a resend of such a report is still known. Senders' keys all
/// hold a `:` (`simplebackups:42`), the hashes (base64url) never. Where the same report was
/// already stored twice (a resend between the two versions), the old row keeps its key.
fn dedup_keys_hashed(tx: &rusqlite::Transaction) -> HookResult {
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT id, dedup_key FROM events WHERE dedup_key LIKE '%:%'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = tx.prepare("UPDATE OR IGNORE events SET dedup_key = ?1 WHERE id = ?2")?;
    for (id, key) in rows {
        update.execute(rusqlite::params![delivery::stored_dedup_key(&key), id])?;
    }
    Ok(())
}

/// The CHECKs of `events` as written in 001_init.sql, and the same rules as comparisons.
const EVENT_CHECKS: [(&str, &str); 2] = [
    (
        "kind IN ('run', 'start', 'log', 'test', 'unrecognized')",
        "kind = 'run' OR kind = 'start' OR kind = 'log' OR kind = 'test' OR kind = 'unrecognized'",
    ),
    (
        "status IN ('success', 'warning', 'failed', 'unknown')",
        "status = 'success' OR status = 'warning' OR status = 'failed' OR status = 'unknown'",
    ),
];

/// Migration 011: SQLite's procedure for changing a CHECK constraint without rebuilding the
/// table (<https://sqlite.org/lang_altertable.html#otheralter>): rewrite the table's SQL in
/// `sqlite_schema` and bump `schema_version`, in the migration's transaction.
fn checks_as_comparisons(tx: &rusqlite::Transaction) -> HookResult {
    rewrite_events_checks(tx, &EVENT_CHECKS)
}

/// Migration 016: events may be checks (`kind = 'check'`), by the same procedure as 011.
fn checks_kept(tx: &rusqlite::Transaction) -> HookResult {
    let kinds = EVENT_CHECKS[0].1;
    rewrite_events_checks(tx, &[(kinds, &format!("{kinds} OR kind = 'check'"))])
}

/// Migration 017: each source's usual figures in the compact form of
/// `delivery::encode_figures`, from the two fixed-width forms before it.
fn figures_compact(tx: &rusqlite::Transaction) -> HookResult {
    let rows: Vec<(i64, String, Vec<u8>)> = tx
        .prepare("SELECT monitor_id, source, figures FROM latest_runs WHERE figures IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut update =
        tx.prepare("UPDATE latest_runs SET figures = ?1 WHERE monitor_id = ?2 AND source = ?3")?;
    for (monitor_id, source, blob) in rows {
        let figures = delivery::encode_figures(&fixed_width_figures(&blob));
        update.execute(rusqlite::params![figures, monitor_id, source])?;
    }
    Ok(())
}

/// Figures as kept before migration 017: little-endian `i64`s, `i64::MIN` for a figure not
/// reported. Version 2: a version byte (2), then size, files and duration (24 bytes a run:
/// an odd length). Before it: size and files (16 bytes a run: an even length).
fn fixed_width_figures(bytes: &[u8]) -> Vec<crate::domain::Figures> {
    let value = |chunk: &[u8]| {
        let n = i64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        (n != i64::MIN).then_some(n)
    };
    match bytes.split_first() {
        Some((2, runs)) if bytes.len() % 2 == 1 => runs
            .chunks_exact(24)
            .map(|run| crate::domain::Figures {
                size: value(&run[..8]),
                files: value(&run[8..16]),
                duration: value(&run[16..]),
            })
            .collect(),
        _ => bytes
            .chunks_exact(16)
            .map(|run| crate::domain::Figures {
                size: value(&run[..8]),
                files: value(&run[8..]),
                duration: None,
            })
            .collect(),
    }
}

/// Replaces each CHECK text of the events table by its new text, in `sqlite_schema`.
fn rewrite_events_checks(tx: &rusqlite::Transaction, changes: &[(&str, &str)]) -> HookResult {
    let table_sql = "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'";
    let mut rewritten: String = tx.query_row(table_sql, [], |r| r.get(0))?;
    for (old, new) in changes {
        if !rewritten.contains(old) {
            return Err(HookError::Hook(format!(
                "the events table has no CHECK ({old}) to rewrite"
            )));
        }
        rewritten = rewritten.replace(old, new);
    }
    let version: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
    tx.pragma_update(None, "writable_schema", true)?;
    tx.execute(
        "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = 'events'",
        [&rewritten],
    )?;
    tx.pragma_update(None, "schema_version", version + 1)?;
    tx.pragma_update(None, "writable_schema", false)?;
    // The new text must parse: a statement on the table is prepared against it.
    tx.prepare("SELECT kind, status FROM events LIMIT 0")?;
    Ok(())
}

/// What a write does when the writer's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Wait for room.
    Wait,
    /// Answer [`StoreError::Busy`] at once.
    Busy,
}

/// Jobs beyond this many wait for the next transaction, so one commit stays short.
const MAX_BATCH: usize = 512;
/// Write jobs that may wait for the writer. A webhook that finds the queue full gets a 503
/// (senders that retry come back; memory stays bounded whatever the load).
pub const QUEUE_CAPACITY: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not prepare the database")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a database thread")]
    Thread(#[source] std::io::Error),
    #[error("the transaction could not be committed")]
    Commit(#[source] Arc<rusqlite::Error>),
    #[error("the database is closed")]
    Closed,
    /// The writer's queue is full: try again shortly.
    #[error("the database is busy; retry in a second")]
    Busy,
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

/// The database. Cheap to clone; every clone talks to the same writer thread.
#[derive(Clone)]
pub struct Store {
    writer: bounded::Sender<Box<dyn WriteJob>>,
    readers: Arc<ReaderPool>,
    /// Dropped with the last clone: tells the checkpoint thread to stop.
    _alive: Arc<mpsc::Sender<()>>,
    monitor_cache: Arc<monitors::MonitorCache>,
}

impl StoreError {
    /// SQLite could not grow the database: the disk is full (or the size limit reached).
    pub fn is_disk_full(&self) -> bool {
        let sqlite = match self {
            Self::Sqlite(e) => e,
            Self::Commit(e) => e.as_ref(),
            _ => return false,
        };
        matches!(sqlite, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull)
    }
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_limited(path, None)
    }

    /// [`Store::open`], the database not growing beyond `limit_bytes` (SQLite's
    /// `max_page_count`): writes beyond it fail as on a full disk.
    pub fn open_limited(path: &Path, limit_bytes: Option<u64>) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Checkpoints run on their own thread (below), never inside a webhook's commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", 32 * 1024 * 1024)?;
        migrations().to_latest(&mut conn)?;
        if let Some(limit) = limit_bytes {
            let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = i64::try_from(limit).unwrap_or(i64::MAX) / page.max(1);
            conn.pragma_update(None, "max_page_count", pages.max(1))?;
        }

        let spawn_error = StoreError::Thread;
        let (writer, jobs) = bounded::channel::<Box<dyn WriteJob>>(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&commits);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(conn, jobs, &counted))
            .map_err(spawn_error)?;
        let (alive, stopped) = mpsc::channel::<()>();
        let checkpoint_conn = Connection::open(path)?;
        configure(&checkpoint_conn)?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpoints(checkpoint_conn, stopped, &commits))
            .map_err(spawn_error)?;
        Ok(Self {
            writer,
            readers: Arc::new(ReaderPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
            _alive: Arc::new(alive),
            monitor_cache: Arc::default(),
        })
    }

    /// Runs `work` in the next group transaction and answers once that transaction is
    /// committed. A failing job is rolled back alone; the others in its batch still commit.
    /// Waits for room in the writer's queue.
    pub(crate) async fn write<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.submit(work, |_| {}, WhenFull::Wait).await
    }

    /// [`Store::write`] with `after_commit` run on the writer thread right after the COMMIT
    /// that made the work durable (so it runs even if the caller has gone away); `when_full`
    /// says whether a full queue is waited out or is [`StoreError::Busy`] at once (requests
    /// from outside, which are told to retry).
    pub(crate) async fn submit<R, F>(
        &self,
        work: F,
        after_commit: impl FnOnce(&R) + Send + 'static,
        when_full: WhenFull,
    ) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (job, answer) = Job::boxed(work, Box::new(after_commit));
        match when_full {
            WhenFull::Wait => self
                .writer
                .send(job)
                .await
                .map_err(|_| StoreError::Closed)?,
            WhenFull::Busy => self.writer.try_send(job).map_err(|e| match e {
                bounded::error::TrySendError::Full(_) => StoreError::Busy,
                bounded::error::TrySendError::Closed(_) => StoreError::Closed,
            })?,
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` on a read-only connection off the async executor.
    pub(crate) async fn read<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = work(&conn);
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(())
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    const MAX_IDLE: usize = 4;

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < Self::MAX_IDLE {
            idle.push(conn);
        }
    }
}

trait WriteJob: Send {
    /// Runs the work; inside a savepoint when others share the transaction, so that a
    /// failure rolls back this job alone.
    fn run(&mut self, conn: &Connection, savepoint: bool);
    fn failed(&self) -> bool;
    /// SQLite's own error, if the work failed with one.
    fn sqlite_failure(&self) -> Option<rusqlite::ffi::Error>;
    fn finish(self: Box<Self>, commit: Result<(), Arc<rusqlite::Error>>);
}

type AfterCommit<R> = Box<dyn FnOnce(&R) + Send>;

struct Job<F, R> {
    work: Option<F>,
    result: Option<Result<R, StoreError>>,
    after_commit: AfterCommit<R>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Job<F, R>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
{
    #[allow(clippy::type_complexity)]
    fn boxed(
        work: F,
        after_commit: AfterCommit<R>,
    ) -> (Box<dyn WriteJob>, oneshot::Receiver<Result<R, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let job = Self {
            work: Some(work),
            result: None,
            after_commit,
            reply,
        };
        (Box::new(job), answer)
    }
}

impl<F, R> WriteJob for Job<F, R>
where
    R: Send,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, savepoint: bool) {
        let Some(work) = self.work.take() else { return };
        if !savepoint {
            self.result = Some(work(conn));
            return;
        }
        let result = statement(conn, "SAVEPOINT job").and_then(|()| work(conn));
        // The work's own error comes first: after some errors (a full disk) SQLite has
        // rolled the whole transaction back, and the savepoint is gone with it.
        self.result = Some(match result {
            Ok(value) => statement(conn, "RELEASE job").map(|()| value),
            Err(e) => {
                let _ = statement(conn, "ROLLBACK TO job")
                    .and_then(|()| statement(conn, "RELEASE job"));
                Err(e)
            }
        });
    }

    fn failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    fn sqlite_failure(&self) -> Option<rusqlite::ffi::Error> {
        match &self.result {
            Some(Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))) => Some(*e),
            _ => None,
        }
    }

    fn finish(self: Box<Self>, commit: Result<(), Arc<rusqlite::Error>>) {
        let answer = match (commit, self.result) {
            (Err(e), _) => Err(StoreError::Commit(e)),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Closed),
        };
        if let Ok(value) = &answer {
            (self.after_commit)(value);
        }
        // The requester may have gone away (client hung up); the work is committed anyway.
        let _ = self.reply.send(answer);
    }
}

/// Runs one of the writer's fixed statements, prepared once per connection.
fn statement(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

// Never inlined: the bench counts the writer's instructions by this function's name.
#[inline(never)]
fn run_writer(
    conn: Connection,
    mut jobs: bounded::Receiver<Box<dyn WriteJob>>,
    commits: &AtomicU64,
) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let begin = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]));
        delivery::transaction_began();
        let commit = match begin {
            Ok(_) => match run_batch(&conn, &mut batch) {
                Batch::RolledBack(cause) => Err(Arc::new(cause)),
                // One job that failed: nothing to keep (its own error answers it).
                Batch::Abandoned => {
                    let _ = statement(&conn, "ROLLBACK");
                    Ok(())
                }
                Batch::Done => conn
                    .prepare_cached("COMMIT")
                    .and_then(|mut s| s.execute([]))
                    .map(|_| ())
                    .map_err(|e| {
                        let _ = statement(&conn, "ROLLBACK");
                        Arc::new(e)
                    }),
            },
            Err(e) => Err(Arc::new(e)),
        };
        match &commit {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Release);
            }
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(e.as_ref()), jobs = batch.len(), "a database transaction failed");
            }
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

/// How a batch's jobs went in their transaction.
enum Batch {
    /// Commit what the jobs did (each failed job rolled back to its savepoint).
    Done,
    /// The batch was one job and it failed: roll back, nothing to commit.
    Abandoned,
    /// SQLite rolled the whole transaction back (a full disk): this error for every job.
    RolledBack(rusqlite::Error),
}

/// Runs the batch's jobs in the open transaction. A job alone needs no savepoint (two
/// statements fewer for the usual webhook): if it fails, the transaction is rolled back.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> Batch {
    let savepoints = batch.len() > 1;
    for job in batch.iter_mut() {
        job.run(conn, savepoints);
        if conn.is_autocommit() {
            let cause = job
                .sqlite_failure()
                .unwrap_or_else(|| rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT));
            return Batch::RolledBack(rusqlite::Error::SqliteFailure(
                cause,
                Some("SQLite rolled the transaction back".to_owned()),
            ));
        }
    }
    if !savepoints && batch.iter().any(|job| job.failed()) {
        return Batch::Abandoned;
    }
    Batch::Done
}

/// Copies committed pages from the WAL into the database every second. `PASSIVE` never
/// waits for (or blocks) the writer or readers, so commits keep their latency.
fn run_checkpoints(conn: Connection, stopped: mpsc::Receiver<()>, commits: &AtomicU64) {
    let mut checkpointed = u64::MAX;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_secs(1)) {
        // An idle add-on costs nothing: no commit since the last checkpoint, nothing to copy.
        let now = commits.load(Ordering::Acquire);
        if now == checkpointed {
            continue;
        }
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => checkpointed = now,
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "WAL checkpoint failed");
            }
        }
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

pub(crate) fn to_ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub(crate) fn from_ms(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A store in a temporary directory with one monitor, for the store's own tests.
#[cfg(test)]
pub(crate) async fn test_store_with_monitor() -> (tempfile::TempDir, Store, i64) {
    use crate::domain::{MonitorName, NewMonitor, Origin, WebhookId};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("kopia_webhook.db")).expect("the store opens");
    let name = MonitorName::parse("M").expect("a valid name");
    let monitor = store
        .create_monitor(NewMonitor::new(name, WebhookId::generate()), Origin::Ui)
        .await
        .expect("the monitor is created");
    (dir, store, monitor.id)
}

/// Stores `events` as received now; how many were stored. For the store's own tests.
#[cfg(test)]
pub(crate) async fn test_insert(
    store: &Store,
    monitor_id: i64,
    events: Vec<crate::domain::BackupEvent>,
) -> usize {
    store
        .insert_events(monitor_id, Timestamp::now(), events)
        .await
        .expect("the events are stored")
        .stored
}

/// A generic run of `source` (none: a run that names no source). For the store's own tests.
#[cfg(test)]
pub(crate) fn test_run(
    source: Option<&str>,
    status: crate::domain::RunStatus,
) -> crate::domain::BackupEvent {
    use crate::domain::{BackupEvent, EventKind, SenderKind};
    let event = BackupEvent::new(SenderKind::named("generic"), EventKind::Run, status);
    match source {
        Some(s) => event.with_source(s),
        None => event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database at `path` with only its first `steps` migrations: what an older add-on left.
    fn migrated_through(path: &Path, steps: usize) -> Connection {
        let mut conn = Connection::open(path).unwrap();
        Migrations::new(migration_steps().into_iter().take(steps).collect())
            .to_latest(&mut conn)
            .unwrap();
        conn
    }

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    /// Migration 017: usual figures kept in either fixed-width form read the same after it.
    #[tokio::test]
    async fn usual_figures_are_kept_compact() {
        use crate::domain::Figures;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let fixed =
            |values: &[i64]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
        // Before durations: size and files. Version 2: a version byte, then with durations.
        let first = fixed(&[7, i64::MIN, 9, 3]);
        let mut second = vec![2];
        second.extend(fixed(&[1_500_000_000, 12, 60_000]));
        {
            let conn = migrated_through(&path, 16);
            conn.execute_batch(
                "INSERT INTO monitors (key, name, webhook_id, history_limit, created_at)
                     VALUES ('a', 'A', 'abcdefghijklmnopqrstuv', 10, 0);
                 INSERT INTO events (id, monitor_id, received_at, sender, kind, status, source)
                     VALUES (1, 1, 0, 'generic', 'run', 'success', 'x');",
            )
            .unwrap();
            for (source, blob) in [("first", &first), ("second", &second)] {
                conn.execute(
                    "INSERT INTO latest_runs (monitor_id, source, event_id, figures)
                         VALUES (1, ?1, 1, ?2)",
                    rusqlite::params![source, blob],
                )
                .unwrap();
            }
        }
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let kept = |source: &str| {
            let blob: Vec<u8> = conn
                .query_row(
                    "SELECT figures FROM latest_runs WHERE source = ?1",
                    [source],
                    |r| r.get(0),
                )
                .unwrap();
            delivery::decode_figures(&blob)
        };
        let run = |size, files, duration| Figures {
            size,
            files,
            duration,
        };
        assert_eq!(
            kept("first"),
            [run(Some(7), None, None), run(Some(9), Some(3), None)]
        );
        assert_eq!(
            kept("second"),
            [run(Some(1_500_000_000), Some(12), Some(60_000))]
        );
    }

    /// Migration 014: a monitor keyed `backups` (now the add-on's own entities) moves to the
    /// first free `backups_<n>`; its URL stays.
    #[tokio::test]
    async fn a_monitor_keyed_backups_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let conn = migrated_through(&path, 13);
            conn.execute_batch(
                "INSERT INTO monitors (key, name, webhook_id, history_limit, created_at, slug)
                     VALUES ('backups', 'Backups', 'abcdefghijklmnopqrstuv', 10, 0, 'backups'),
                            ('backups_2', 'Backups 2', 'bbcdefghijklmnopqrstuv', 10, 0, 'backups-2');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let moved = store.monitor_by_id(1).await.unwrap().unwrap();
        assert_eq!(moved.key.as_str(), "backups_3");
        assert_eq!(moved.slug.as_str(), "backups", "its URLs stay");
    }

    /// Migration 013: events queued for Core before the cursor are still fired, in order; one
    /// Core refused keeps its retry; an event fired before is not fired again.
    #[tokio::test]
    async fn core_events_queued_before_the_cursor_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let conn = migrated_through(&path, 12);
            conn.execute_batch(
                "INSERT INTO monitors (key, name, webhook_id, history_limit, created_at)
                     VALUES ('a', 'A', 'abcdefghijklmnopqrstuv', 10, 0);
                 INSERT INTO events (id, monitor_id, received_at, sender, kind, status, source)
                     VALUES (1, 1, 0, 'generic', 'run', 'success', 'fired'),
                            (2, 1, 0, 'generic', 'run', 'success', 'refused'),
                            (3, 1, 0, 'generic', 'run', 'success', 'queued'),
                            (4, 1, 0, 'generic', 'run', 'success', 'imported');
                 INSERT INTO core_events (event_id, created_at, attempts, next_attempt_at)
                     VALUES (2, 0, 3, 0), (3, 0, 0, 0);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let due = store.due_core_events(Timestamp::now(), 10).await.unwrap();
        let due: Vec<_> = due
            .iter()
            .map(|due| match &due.what {
                CoreEventSubject::Event { event, .. } => {
                    (due.attempts, event.event.source().unwrap().to_owned())
                }
                CoreEventSubject::Rendered(data) => (due.attempts, data.clone()),
            })
            .collect();
        assert_eq!(due, [(3, "refused".into()), (0, "queued".into())]);
    }

    /// Migration 012: a report stored with its dedup key in clear is still known when it is
    /// sent again.
    #[tokio::test]
    async fn dedup_keys_in_clear_are_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let conn = migrated_through(&path, 11);
            conn.execute_batch(
                "INSERT INTO monitors (key, name, webhook_id, history_limit, created_at)
                     VALUES ('a', 'A', 'abcdefghijklmnopqrstuv', 10, 0);
                 INSERT INTO events (monitor_id, received_at, sender, kind, status, dedup_key)
                     VALUES (1, 0, 'simplebackups', 'run', 'success', 'simplebackups:42');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let resend = crate::domain::BackupEvent::new(
            crate::domain::SenderKind::named("simplebackups"),
            crate::domain::EventKind::Run,
            crate::domain::RunStatus::Success,
        )
        .with_dedup_key("simplebackups:42");
        let ingested = store
            .ingest(
                Delivery {
                    monitor_id: 1,
                    received_at: jiff::Timestamp::now(),
                    events: vec![resend],
                    fire_core_events: false,
                    shrink: crate::domain::ShrinkRule::default(),
                    unusual_durations: true,
                },
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!((ingested.stored, ingested.duplicates), (0, 1));
    }

    /// Migration 011 keeps the rules and the rows, and an event's INSERT no longer builds
    /// temporary b-trees for them.
    #[test]
    fn event_checks_are_comparisons() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let before_011 = 10;
        let mut conn = migrated_through(&path, before_011);
        conn.execute_batch(
            "INSERT INTO monitors (key, name, webhook_id, history_limit, created_at)
                 VALUES ('a', 'A', 'abcdefghijklmnopqrstuv', 10, 0);
             INSERT INTO events (monitor_id, received_at, sender, kind, status)
                 VALUES (1, 0, 'kopia', 'run', 'success');",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();

        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains(" IN ("), "{sql}");
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let insert = |kind: &str, status: &str| {
            conn.execute(
                "INSERT INTO events (monitor_id, received_at, sender, kind, status)
                 VALUES (1, 0, 'kopia', ?1, ?2)",
                [kind, status],
            )
        };
        assert!(insert("test", "unknown").is_ok());
        assert!(insert("walk", "success").is_err());
        assert!(insert("run", "fine").is_err());
        let opcodes: Vec<String> = conn
            .prepare(
                "EXPLAIN INSERT INTO events (monitor_id, received_at, sender, kind, status)
                 VALUES (1, 0, 'kopia', 'run', 'success')",
            )
            .unwrap()
            .query_map([], |r| r.get(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            !opcodes.iter().any(|op| op == "OpenEphemeral"),
            "{opcodes:?}"
        );
    }

    /// A store with a table `t (x INTEGER NOT NULL)`, for the writer's own tests.
    async fn store_with_table_t() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .write(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER NOT NULL)")?))
            .await
            .unwrap();
        (dir, store)
    }

    /// A job alone runs without a savepoint: when it fails, what it wrote before failing is
    /// rolled back with the transaction, and the next job starts clean.
    #[tokio::test]
    async fn a_failing_job_alone_leaves_nothing_behind() {
        let (_dir, store) = store_with_table_t().await;
        let failed = store
            .write(|c| {
                c.execute("INSERT INTO t VALUES (1)", [])?;
                c.execute("INSERT INTO t VALUES (NULL)", [])?;
                Ok(())
            })
            .await;
        assert!(failed.is_err());
        store
            .write(|c| Ok(c.execute("INSERT INTO t VALUES (2)", []).map(drop)?))
            .await
            .unwrap();
        let rows: Vec<i64> = store
            .read(|c| {
                let mut stmt = c.prepare("SELECT x FROM t")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(rows, [2]);
    }

    #[tokio::test]
    async fn a_failing_job_does_not_take_its_batch_down() {
        let (_dir, store) = store_with_table_t().await;
        let writes = (0..50).map(|i| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        if i % 10 == 0 {
                            c.execute("INSERT INTO t VALUES (NULL)", [])?;
                        }
                        c.execute("INSERT INTO t VALUES (?1)", [i])?;
                        Ok(())
                    })
                    .await
            }
        });
        let results = futures_join_all(writes).await;
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
        let count: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(count, 45);
    }

    async fn futures_join_all<F: std::future::Future + Send + 'static>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_at_once_not_unbounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        // Hold the writer until released; wait until it is held.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (entered, holding) = oneshot::channel::<()>();
        let blocker = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(move |_| {
                        let _ = entered.send(());
                        let _ = held.recv();
                        Ok(())
                    })
                    .await
            })
        };
        holding.await.unwrap();
        // While the writer is held nothing can be written, so the first request to finish
        // is one that found the queue full, answered without waiting for the writer.
        let (finished, mut first) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for _ in 0..QUEUE_CAPACITY + 10 {
            let store = store.clone();
            let finished = finished.clone();
            waiting.push(tokio::spawn(async move {
                let result = store.submit(|_| Ok(()), |_| {}, WhenFull::Busy).await;
                let _ = finished.send(matches!(result, Err(StoreError::Busy)));
                result
            }));
        }
        let first = tokio::time::timeout(Duration::from_secs(30), first.recv()).await;
        assert_eq!(
            first,
            Ok(Some(true)),
            "a request finds the queue full and is answered at once"
        );
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let results: Vec<_> = futures_join(waiting).await;
        assert!(results.iter().any(|r| matches!(r, Err(StoreError::Busy))));
        assert!(results.iter().filter(|r| r.is_ok()).count() >= QUEUE_CAPACITY - 1);
    }

    async fn futures_join<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let store = Store::open(&path).unwrap();
            store
                .write(|c| Ok(c.execute("INSERT INTO monitors (key, name, webhook_id, history_limit, created_at) VALUES ('a','A','abcdefghijklmnopqrstuv',10,0)", [])?))
                .await
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (n, version): (i64, i64) = store
            .read(|c| {
                let n = c.query_row("SELECT COUNT(*) FROM monitors", [], |r| r.get(0))?;
                let v = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                Ok((n, v))
            })
            .await
            .unwrap();
        assert_eq!((n, version), (1, migration_steps().len() as i64));
    }
}

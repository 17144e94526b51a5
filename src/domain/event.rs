use std::fmt;

use jiff::Timestamp;

/// `850 ms`, `1.1 s`, `2 min 5 s`, `1 h 2 min`.
pub fn human_duration(ms: i64) -> String {
    match ms {
        ..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// `456 B`, `1.2 MB`, `3.4 GB`: decimal units, as Kopia and most tools print them.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    if value < 10.0 {
        format!("{value:.2} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// What an event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A job finished, successfully or not.
    Run,
    /// A job began.
    Start,
    /// Information only; never changes a status.
    Log,
    /// A sender's "send test notification".
    Test,
    /// An authenticated body that no sender understood.
    Unrecognized,
    /// How far a running backup is (Duplicati's live status): kept as the monitor's live
    /// progress, not as a history row.
    Progress,
    /// A check of the backups rather than a backup (borgmatic's `check`, a Proxmox Backup
    /// Server verify job, Backrest's check, Kopia's maintenance): its own clock, "last
    /// verified"; a failed one is a failure of the monitor.
    Check,
}

/// How far a running backup has got, as its tool reports it while it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// 0 to 1, when the tool knows.
    pub fraction: Option<f64>,
    /// The tool's name for what it is doing (`Backup_ProcessingFiles`).
    pub phase: Option<String>,
    pub files_total: Option<i64>,
    pub bytes_total: Option<i64>,
    /// The run is over (its result comes as a run): the progress goes.
    pub done: bool,
}

/// The outcome of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunStatus {
    // Declared from best to worst: `Ord` ranks them, `max` is the worst.
    Success,
    Unknown,
    Warning,
    Failed,
}

macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn from_db(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// Who sent an event: the name its reader stores (`kopia`, `duplicati`…). Each sender
/// module names its own (`senders::kopia::KIND`), so a new sender is its module and an
/// entry in the senders' list; the domain names only its own two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SenderKind(&'static str);

impl SenderKind {
    /// A test event sent from the panel.
    pub const PANEL: Self = Self("panel");
    /// A body no sender reads.
    pub const UNKNOWN: Self = Self("unknown");
    /// Home Assistant's own backups, followed over Core's websocket.
    pub const HOME_ASSISTANT: Self = Self("home_assistant");
    /// How many distinct stored names are taken back (a sane database has a dozen).
    const MAX_NAMES: usize = 256;

    /// A sender module's kind: lower-case letters, digits and `_`.
    pub const fn named(name: &'static str) -> Self {
        Self(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// A stored name, kept once per distinct name so that events stay `Copy`; `None` for
    /// what no reader could have stored.
    pub fn from_db(text: &str) -> Option<Self> {
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let valid = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return None;
        }
        let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = names.iter().find(|n| **n == text) {
            return Some(Self(known));
        }
        if names.len() >= Self::MAX_NAMES {
            return None;
        }
        // Bounded by MAX_NAMES: kept for the process's life, like the names of the code.
        let name: &'static str = Box::leak(text.to_owned().into_boxed_str());
        names.push(name);
        Some(Self(name))
    }
}

impl fmt::Display for SenderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for SenderKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}
string_enum!(EventKind {
    Run => "run",
    Start => "start",
    Log => "log",
    Test => "test",
    Unrecognized => "unrecognized",
    Progress => "progress",
    Check => "check",
});
string_enum!(RunStatus {
    Success => "success",
    Unknown => "unknown",
    Warning => "warning",
    Failed => "failed",
});

impl RunStatus {
    /// The status words backup tools, templates and scripts write, and what each means
    /// (case and surrounding space do not matter). `None`: not a status word; see
    /// [`RunStatus::from_report`].
    pub fn from_word(word: &str) -> Option<Self> {
        let word = word.trim().to_ascii_lowercase();
        Some(match word.as_str() {
            "success" | "succeeded" | "successful" | "ok" | "okay" | "up" | "completed"
            | "complete" | "done" | "finished" | "passed" | "pass" | "good" | "0" => Self::Success,
            "warning"
            | "warnings"
            | "warn"
            | "partial"
            | "incomplete"
            | "degraded"
            | "completed with warnings" => Self::Warning,
            "failed" | "failure" | "fail" | "fatal" | "error" | "errors" | "down" | "aborted"
            | "abort" | "cancelled" | "canceled" | "interrupted" | "killed" | "crashed"
            | "timeout" | "timed out" | "1" => Self::Failed,
            _ => return None,
        })
    }

    /// A status as a report gives it: a known word, or a warning that names what was not
    /// understood (never "fine", never "nothing yet").
    pub fn from_report(value: &str) -> (Self, Option<String>) {
        match Self::from_word(value) {
            Some(status) => (status, None),
            None => {
                let shown: String = value.trim().chars().take(40).collect();
                (
                    Self::Warning,
                    Some(format!("status '{shown}' not understood")),
                )
            }
        }
    }
}

/// One thing a backup tool reported, normalised: UTC times, milliseconds, bytes.
///
/// Built only by the sender parsers through the methods below, which keep it consistent
/// (no negative durations, text bounded, end never before start).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupEvent {
    sender: SenderKind,
    kind: EventKind,
    status: RunStatus,
    source: Option<String>,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    duration_ms: Option<i64>,
    size_bytes: Option<i64>,
    files: Option<i64>,
    dirs: Option<i64>,
    error: Option<String>,
    raw: Option<Vec<u8>>,
    /// A sender's own ID of this delivery (SimpleBackups' run ID…): a retry with the same
    /// key is not stored twice.
    dedup_key: Option<String>,
    /// A Healthchecks-style run ID pairing a start with its end.
    run_id: Option<String>,
    /// The machine the run happened on, when the sender names it.
    host: Option<String>,
    /// Where the backup went (storage, destination), when the sender names it.
    target: Option<String>,
    /// For [`EventKind::Progress`]: how far the run is (files and bytes done are in
    /// `files` and `size_bytes`).
    progress: Option<Box<Progress>>,
}

impl BackupEvent {
    pub const MAX_TEXT: usize = 2000;
    /// Healthchecks shows durations only below this: an older start is a run that never
    /// ended, not the start of the run that just finished.
    pub const MAX_PAIRED_DURATION: jiff::SignedDuration = jiff::SignedDuration::from_hours(72);
    pub const MAX_SOURCE: usize = 300;
    pub const MAX_RAW: usize = 100_000;

    pub fn new(sender: SenderKind, kind: EventKind, status: RunStatus) -> Self {
        Self {
            sender,
            kind,
            status,
            source: None,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            size_bytes: None,
            files: None,
            dirs: None,
            error: None,
            raw: None,
            dedup_key: None,
            run_id: None,
            host: None,
            target: None,
            progress: None,
        }
    }

    /// A running backup's progress (see [`Progress`]).
    pub fn progress_report(sender: SenderKind, progress: Progress) -> Self {
        let mut event = Self::new(sender, EventKind::Progress, RunStatus::Unknown);
        event.progress = Some(Box::new(progress));
        event
    }

    pub fn progress(&self) -> Option<&Progress> {
        self.progress.as_deref()
    }

    /// An authenticated body that no parser understood: kept (bounded) so nothing is lost,
    /// and a warning that says `why`, so it is not lost silently either.
    pub fn unrecognized(body: &[u8], why: &str) -> Self {
        Self::new(
            SenderKind::UNKNOWN,
            EventKind::Unrecognized,
            RunStatus::Warning,
        )
        .with_raw(body)
        .with_error(why)
    }

    pub fn with_source(mut self, source: &str) -> Self {
        let source = source.trim();
        if !source.is_empty() {
            self.source = Some(bounded(source, Self::MAX_SOURCE));
        }
        self
    }

    /// Puts a note of the add-on's own (a status it did not understand) before the error
    /// the sender gave, if any.
    pub fn with_note(self, note: Option<String>) -> Self {
        match note {
            None => self,
            Some(note) => {
                let error = match self.error.as_deref() {
                    Some(error) => format!("{note}; {error}"),
                    None => note,
                };
                self.with_error(&error)
            }
        }
    }

    pub fn with_error(mut self, error: &str) -> Self {
        let error = error.trim();
        if !error.is_empty() {
            self.error = Some(bounded(error, Self::MAX_TEXT));
        }
        self
    }

    /// Sets start and end; the duration follows unless one is already known.
    pub fn with_times(mut self, started: Option<Timestamp>, finished: Option<Timestamp>) -> Self {
        self.started_at = started;
        self.finished_at = match (started, finished) {
            (Some(s), Some(f)) if f < s => Some(s),
            _ => finished,
        };
        if let (Some(s), Some(f), None) = (self.started_at, self.finished_at, self.duration_ms) {
            self.duration_ms = Some(f.duration_since(s).as_millis() as i64);
        }
        self
    }

    /// Sets the duration; with a start and no end, the end is start + duration.
    pub fn with_duration_ms(mut self, ms: i64) -> Self {
        if ms < 0 {
            return self;
        }
        self.duration_ms = Some(ms);
        if let (Some(s), None) = (self.started_at, self.finished_at) {
            self.finished_at = s.checked_add(jiff::SignedDuration::from_millis(ms)).ok();
        }
        self
    }

    pub fn with_size_bytes(mut self, bytes: u64) -> Self {
        self.size_bytes = Some(i64::try_from(bytes).unwrap_or(i64::MAX));
        self
    }

    pub fn with_files(mut self, files: u64) -> Self {
        self.files = Some(i64::try_from(files).unwrap_or(i64::MAX));
        self
    }

    pub fn with_dirs(mut self, dirs: u64) -> Self {
        self.dirs = Some(i64::try_from(dirs).unwrap_or(i64::MAX));
        self
    }

    pub fn with_dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(bounded(&key.into(), 200));
        self
    }

    pub fn with_host(mut self, host: &str) -> Self {
        let host = host.trim();
        if !host.is_empty() {
            self.host = Some(bounded(host, Self::MAX_SOURCE));
        }
        self
    }

    pub fn with_target(mut self, target: &str) -> Self {
        let target = target.trim();
        if !target.is_empty() {
            self.target = Some(bounded(target, Self::MAX_SOURCE));
        }
        self
    }

    /// The kind, once a sender knows more than the parser that built the event.
    pub fn with_kind(mut self, kind: EventKind) -> Self {
        self.kind = kind;
        self
    }

    /// A run the tool called successful that the add-on finds wrong (a backup far smaller
    /// than usual): a warning that says why.
    /// Whether this run ends a start open under its run ID: the same source, or one of
    /// them names none.
    pub fn ends_start_of(&self, start_source: Option<&str>) -> bool {
        self.source().is_none() || start_source.is_none() || self.source() == start_source
    }

    /// This run, begun when its open start arrived (`started`): it gets that start time and
    /// a duration, unless its tool gave a start of its own or the start is older than
    /// [`Self::MAX_PAIRED_DURATION`] (a run that never ended, not this one's). Whether it
    /// was paired.
    pub fn paired_with_start(self, started: Timestamp, received_at: Timestamp) -> (Self, bool) {
        let fresh = received_at.duration_since(started) < Self::MAX_PAIRED_DURATION;
        if fresh && self.started_at.is_none() {
            let finished = self.finished_at.unwrap_or(received_at);
            (self.with_times(Some(started), Some(finished)), true)
        } else {
            (self, false)
        }
    }

    pub fn with_warning(mut self, why: String) -> Self {
        self.status = RunStatus::Warning;
        self.with_note(Some(why))
    }

    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(bounded(&run_id.into(), 64));
        self
    }

    pub fn with_raw(mut self, body: &[u8]) -> Self {
        self.raw = Some(body[..body.len().min(Self::MAX_RAW)].to_vec());
        self
    }

    pub fn sender(&self) -> SenderKind {
        self.sender
    }
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    pub fn status(&self) -> RunStatus {
        self.status
    }
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    pub fn started_at(&self) -> Option<Timestamp> {
        self.started_at
    }
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }
    pub fn duration_ms(&self) -> Option<i64> {
        self.duration_ms
    }
    pub fn size_bytes(&self) -> Option<i64> {
        self.size_bytes
    }
    pub fn files(&self) -> Option<i64> {
        self.files
    }
    pub fn dirs(&self) -> Option<i64> {
        self.dirs
    }
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }
    pub fn dedup_key(&self) -> Option<&str> {
        self.dedup_key.as_deref()
    }
    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
}

/// Bytes a sender sent, as text fit for pages and logs: invalid UTF-8 replaced, control
/// characters (but newlines and tabs) as spaces.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(printable_char)
        .collect()
}

fn printable_char(c: char) -> char {
    if c.is_control() && c != '\n' && c != '\t' {
        ' '
    } else {
        c
    }
}

/// At most `max_chars` characters, control characters (but newlines and tabs) as spaces:
/// what senders write ends up in pages, logs and Home Assistant attributes.
fn bounded(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).map(printable_char).collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

/// An event as it was committed: its row ID and when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub received_at: Timestamp,
    pub event: BackupEvent,
    /// The start of the body as received, where kept (unrecognized bodies, ping logs) and
    /// read (history pages).
    pub body_head: Option<String>,
}

impl StoredEvent {
    /// The store reads back only what a parser once built, so this trusts its input.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_row(
        id: i64,
        received_at: Timestamp,
        sender: SenderKind,
        kind: EventKind,
        status: RunStatus,
        source: Option<String>,
        started_at: Option<Timestamp>,
        finished_at: Option<Timestamp>,
        duration_ms: Option<i64>,
        size_bytes: Option<i64>,
        files: Option<i64>,
        dirs: Option<i64>,
        error: Option<String>,
    ) -> Self {
        Self {
            id,
            received_at,
            body_head: None,
            event: BackupEvent {
                sender,
                kind,
                status,
                source,
                started_at,
                finished_at,
                duration_ms,
                size_bytes,
                files,
                dirs,
                error,
                raw: None,
                dedup_key: None,
                run_id: None,
                host: None,
                target: None,
                progress: None,
            },
        }
    }

    /// Adds the columns read back from the store that [`StoredEvent::from_row`] lacks.
    pub(crate) fn with_stored_extras(
        mut self,
        run_id: Option<String>,
        host: Option<String>,
        target: Option<String>,
    ) -> Self {
        self.event.run_id = run_id;
        self.event.host = host;
        self.event.target = target;
        self
    }

    /// When the run ended, as well as anyone can tell.
    pub fn ended_at(&self) -> Timestamp {
        self.event.finished_at.unwrap_or(self.received_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn status_order_makes_max_the_worst() {
        use RunStatus::*;
        assert_eq!([Success, Warning, Unknown].into_iter().max(), Some(Warning));
        assert_eq!([Success, Failed, Warning].into_iter().max(), Some(Failed));
        assert_eq!([Success, Unknown].into_iter().max(), Some(Unknown));
    }

    #[test]
    fn status_words_map_and_anything_else_is_a_named_warning() {
        assert_eq!(
            RunStatus::from_word(" Succeeded "),
            Some(RunStatus::Success)
        );
        assert_eq!(RunStatus::from_word("warn"), Some(RunStatus::Warning));
        assert_eq!(RunStatus::from_word("aborted"), Some(RunStatus::Failed));
        assert_eq!(RunStatus::from_word("cancelled"), Some(RunStatus::Failed));
        for odd in ["sucess", "true", "maybe"] {
            let (status, note) = RunStatus::from_report(odd);
            assert_eq!(status, RunStatus::Warning);
            assert_eq!(note, Some(format!("status '{odd}' not understood")));
        }
        let e = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Run,
            RunStatus::Warning,
        )
        .with_error("disk full")
        .with_note(Some("status 'x' not understood".into()));
        assert_eq!(e.error(), Some("status 'x' not understood; disk full"));
    }

    #[test]
    fn end_is_start_plus_duration() {
        let e = BackupEvent::new(
            SenderKind::named("kopia"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_times(Some(ts("2020-01-02T03:04:05Z")), None)
        .with_duration_ms(1100);
        assert_eq!(e.finished_at(), Some(ts("2020-01-02T03:04:06.1Z")));
    }

    #[test]
    fn duration_follows_start_and_end_and_is_never_negative() {
        let e = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_times(
            Some(ts("2020-01-02T03:00:00Z")),
            Some(ts("2020-01-02T03:01:00Z")),
        );
        assert_eq!(e.duration_ms(), Some(60_000));
        let backwards = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_times(
            Some(ts("2020-01-02T03:00:00Z")),
            Some(ts("2020-01-02T02:00:00Z")),
        );
        assert_eq!(backwards.duration_ms(), Some(0));
        let negative = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_duration_ms(-5);
        assert_eq!(negative.duration_ms(), None);
    }

    #[test]
    fn control_characters_become_spaces() {
        let e = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Run,
            RunStatus::Failed,
        )
        .with_source("a\u{0}b\u{7}c")
        .with_error("line one\nline\ttwo\u{1b}[31m");
        assert_eq!(e.source(), Some("a b c"));
        assert_eq!(e.error(), Some("line one\nline\ttwo [31m"));
    }

    #[test]
    fn text_is_bounded_on_a_character_boundary() {
        let e = BackupEvent::new(
            SenderKind::named("generic"),
            EventKind::Run,
            RunStatus::Failed,
        )
        .with_error(&"é".repeat(5000));
        assert_eq!(
            e.error().unwrap().chars().count(),
            BackupEvent::MAX_TEXT + 1
        );
    }
}

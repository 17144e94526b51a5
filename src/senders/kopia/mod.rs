//! Kopia's webhook notifications, as its default templates render them (no template editing),
//! in both of its formats: plain text (`text.rs`) and HTML (`html.rs`).
//!
//! Kopia sends the first template line as the `Subject` header and the rest as the body, with
//! no Content-Type. A snapshot report has one block (or table row) per snapshot; the overall
//! outcome is only in the Subject. See `senders.md` §1.

mod html;
mod text;

use jiff::Timestamp;

use super::fields::{parse_count, parse_go_duration_ms, parse_size, parse_time};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("kopia");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Kopia",
    sniffer: Some(&Kopia),
};

pub struct Kopia;

const TEST_BODY: &str = "This is a test notification from Kopia.";
const TEST_SUBJECT: &str = "Test notification from Kopia";
const ERROR_SUBJECT: &str = "Kopia has encountered an error during ";

impl Sender for Kopia {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let subject = inbound.header("subject").unwrap_or_default().trim();
        let text = inbound.text()?;
        let body = text.trim_start();
        let is_html = html::looks_like_html(body);
        if subject.starts_with(TEST_SUBJECT)
            || body.starts_with(TEST_BODY)
            || (is_html && body.contains(TEST_BODY))
        {
            return Some(Ok(vec![test_notification()]));
        }
        if is_html {
            if subject.starts_with(ERROR_SUBJECT) || html::is_generic_error(body) {
                let lines = html::generic_error_lines(body);
                return Some(Ok(vec![generic_error(subject, &lines, inbound)]));
            }
            if html::is_snapshot_report(body) {
                return Some(snapshot_report(
                    subject,
                    html::snapshot_blocks(body),
                    inbound,
                ));
            }
            return None;
        }
        if subject.starts_with(ERROR_SUBJECT) || is_generic_error_body(body) {
            return Some(Ok(vec![generic_error(subject, body, inbound)]));
        }
        if body.lines().any(|line| line.starts_with("Path:")) {
            return Some(snapshot_report(
                subject,
                text::snapshot_blocks(body),
                inbound,
            ));
        }
        None
    }
}

fn test_notification() -> BackupEvent {
    BackupEvent::new(KIND, EventKind::Test, RunStatus::Success)
}

fn is_generic_error_body(body: &str) -> bool {
    let mut lines = body.lines();
    matches!(
        (lines.next(), lines.next()),
        (Some(a), Some(b)) if a.starts_with("Operation:") && b.starts_with("Started:")
    )
}

/// An error during a repository operation (maintenance, a failed command): a failed run that
/// belongs to no snapshot source.
fn generic_error(subject: &str, body: &str, inbound: &Inbound<'_>) -> BackupEvent {
    let operation = subject
        .strip_prefix(ERROR_SUBJECT)
        .map(|rest| rest.rsplit_once(" on ").map_or(rest, |(op, _host)| op))
        .unwrap_or("a Kopia operation");
    let mut started = None;
    let mut finished = None;
    let mut details = Vec::new();
    for line in body.lines() {
        if let Some(v) = line.strip_prefix("Started:") {
            started = parse_time(v, inbound.zone());
        } else if let Some(v) = line.strip_prefix("Finished:") {
            // `Thu, 02 Jan 2020 03:04:06 +0000 (1s)`
            let time = v.rsplit_once(" (").map_or(v, |(t, _)| t);
            finished = parse_time(time, inbound.zone());
        } else if line.starts_with("Operation:") {
        } else if line.starts_with("Generated at ") {
            break;
        } else {
            // The HTML format labels the short message; the text format does not.
            details.push(line.strip_prefix("Message:").map_or(line, str::trim));
        }
    }
    let details = details.join("\n");
    let error = match details.trim() {
        "" => format!("{operation} failed"),
        text => format!("{operation} failed: {text}"),
    };
    // Maintenance checks and tidies the repository: its error is a failed check.
    let kind = if operation.to_ascii_lowercase().contains("maintenance") {
        EventKind::Check
    } else {
        EventKind::Run
    };
    let event = BackupEvent::new(KIND, kind, RunStatus::Failed)
        .with_times(started, finished)
        .with_error(&error);
    match host_of(subject) {
        Some(host) => event.with_host(host),
        None => event,
    }
}

/// Kopia's per-snapshot `Status:` codes: v0.19+ (`success`, `warnings`, `incomplete`, `fatal`)
/// and v0.18 (`ok`, `error`).
fn status_from_code(code: &str) -> (RunStatus, Option<String>) {
    super::status_or_note(Some(code), |code| match code {
        "success" | "ok" => Some(RunStatus::Success),
        "warnings" | "incomplete" => Some(RunStatus::Warning),
        "fatal" | "error" => Some(RunStatus::Failed),
        _ => None,
    })
}

/// What the Subject says about the whole report, used when a block has no status line.
fn status_from_subject(subject: &str) -> (RunStatus, Option<String>) {
    if subject.starts_with("Failed") {
        (RunStatus::Failed, None)
    } else if subject.starts_with("Successfully") || subject.starts_with("Kopia created") {
        (RunStatus::Success, None)
    } else {
        let shown: String = subject.chars().take(80).collect();
        (
            RunStatus::Warning,
            Some(format!(
                "no status in the report, and the subject '{shown}' says none"
            )),
        )
    }
}

/// One snapshot of a report, as its text block or table row says it.
#[derive(Debug, Default)]
struct Block {
    path: String,
    status: Option<String>,
    start: Option<String>,
    duration: Option<String>,
    size: Option<String>,
    files: Option<String>,
    dirs: Option<String>,
    error: Option<String>,
    failed_entries: Vec<String>,
}

fn snapshot_report(
    subject: &str,
    blocks: Vec<Block>,
    inbound: &Inbound<'_>,
) -> Result<Vec<BackupEvent>, SenderError> {
    if blocks.is_empty() {
        return Err(SenderError::Invalid(
            "this looks like a Kopia snapshot report but lists no snapshot".into(),
        ));
    }
    let fallback = status_from_subject(subject);
    let host = host_of(subject);
    let subject_digest = super::fields::body_digest(subject.as_bytes());
    let mut seen: Vec<(String, i64)> = Vec::new();
    Ok(blocks
        .into_iter()
        .map(|block| {
            let event = block_to_event(block, &fallback, inbound);
            let event = match host {
                Some(host) => event.with_host(host),
                None => event,
            };
            // The same snapshot in the same notification sent twice is one run. A report
            // may list a path twice with one start time (Kopia's own sample does): the
            // position among those keeps them apart.
            match (event.source(), event.started_at()) {
                (Some(source), Some(start)) => {
                    let id = (source.to_owned(), start.as_millisecond());
                    let nth = seen.iter().filter(|s| **s == id).count();
                    seen.push(id);
                    let key = format!(
                        "kopia:{}:{source}:{}:{nth}:{}",
                        host.unwrap_or(""),
                        start.as_millisecond(),
                        subject_digest
                    );
                    event.with_dedup_key(key)
                }
                // A snapshot that failed before it began has no start: the notification
                // itself (its "Generated at" time included) tells a resend apart.
                (Some(source), None) => {
                    let id = (source.to_owned(), 0);
                    let nth = seen.iter().filter(|s| **s == id).count();
                    seen.push(id);
                    let key = format!(
                        "kopia:{}:{source}:unstarted:{nth}:{}",
                        host.unwrap_or(""),
                        super::fields::body_digest(
                            [subject.as_bytes(), inbound.body()].concat().as_slice()
                        )
                    );
                    event.with_dedup_key(key)
                }
                _ => event,
            }
        })
        .collect())
}

/// The machine in Kopia's Subject: `… on <host>` (the repository server's name when a
/// server sends for its clients).
fn host_of(subject: &str) -> Option<&str> {
    let (_, host) = subject.rsplit_once(" on ")?;
    let host = host.trim();
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some(host)
}

fn block_to_event(
    block: Block,
    fallback: &(RunStatus, Option<String>),
    inbound: &Inbound<'_>,
) -> BackupEvent {
    let (status, note) = block
        .status
        .as_deref()
        .map_or_else(|| fallback.clone(), status_from_code);
    let mut event = BackupEvent::new(KIND, EventKind::Run, status).with_source(&block.path);
    let start = block
        .start
        .as_deref()
        .and_then(|s| parse_time(s, inbound.zone()));
    // A snapshot that failed before it began reports the zero time and zero sizes. A start
    // that does not read (not Kopia's own format) leaves the run without times, not
    // without its figures.
    let has_figures = block.start.is_some() && start != Some(Timestamp::UNIX_EPOCH);
    if has_figures {
        if let Some(start) = start {
            event = event.with_times(Some(start), None);
        }
        if let Some(ms) = block.duration.as_deref().and_then(parse_go_duration_ms) {
            event = event.with_duration_ms(ms);
        }
        if let Some(bytes) = block.size.as_deref().and_then(parse_size) {
            event = event.with_size_bytes(bytes);
        }
        if let Some(files) = block.files.as_deref().and_then(parse_count) {
            event = event.with_files(files);
        }
        if let Some(dirs) = block.dirs.as_deref().and_then(parse_count) {
            event = event.with_dirs(dirs);
        }
    }
    let error = match (block.error, block.failed_entries.is_empty()) {
        (Some(error), _) => Some(error),
        (None, false) => Some(format!(
            "{} failed entries: {}",
            block.failed_entries.len(),
            block.failed_entries.join("; ")
        )),
        (None, true) => None,
    };
    if let Some(error) = error {
        event = event.with_error(&error);
    }
    event.with_note(note)
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    pub(super) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kopia");

    /// Splits a rendered Kopia message the way Kopia's webhook sender does: header lines up
    /// to the first blank line, then the body without a trailing newline.
    fn kopia_request(rendered: &str) -> (Vec<(String, String)>, String) {
        let (head, body) = rendered.split_once("\n\n").unwrap();
        let headers = head
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (headers, body.trim_end_matches('\n').to_string())
    }

    pub(super) fn parse_fixture(name: &str) -> Vec<BackupEvent> {
        let rendered = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
        let (headers, body) = kopia_request(&rendered);
        let zone = TimeZone::UTC;
        let inbound = Inbound::new(&headers, body.as_bytes(), &zone);
        Kopia.parse(&inbound).expect("recognised").expect("parsed")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Events compared without their dedup keys (a key of a snapshot without a start time
    /// depends on the notification's bytes, which differ between formats).
    fn same_keys(events: Vec<BackupEvent>) -> Vec<BackupEvent> {
        events.into_iter().map(|e| e.with_dedup_key("-")).collect()
    }

    #[test]
    fn default_report_gives_one_event_per_snapshot() {
        let events = parse_fixture("snapshot-report.txt.default.expected");
        assert_eq!(events.len(), 4);
        let sources: Vec<_> = events.iter().map(|e| e.source().unwrap()).collect();
        assert_eq!(
            sources,
            [
                "/some/other/path",
                "/some/path",
                "/some/path",
                "/some/path2"
            ]
        );

        let fatal = &events[0];
        assert_eq!(fatal.status(), RunStatus::Failed);
        assert_eq!(fatal.error(), Some("some top-level error"));
        assert_eq!(
            fatal.started_at(),
            None,
            "the zero manifest has no real start"
        );
        assert_eq!(fatal.size_bytes(), None);

        let ok = &events[1];
        assert_eq!(ok.status(), RunStatus::Success);
        assert_eq!(ok.started_at(), Some(ts("2020-01-02T03:04:05Z")));
        assert_eq!(ok.finished_at(), Some(ts("2020-01-02T03:04:06.1Z")));
        assert_eq!(ok.duration_ms(), Some(1100));
        assert_eq!(ok.size_bytes(), Some(456));
        assert_eq!(ok.files(), Some(123));
        assert_eq!(ok.dirs(), Some(33));
        assert_eq!(
            ok.error(),
            Some("2 failed entries: /some/path: some error; /some/path2: some error")
        );
    }

    #[test]
    fn alternative_template_in_a_us_zone_gives_the_same_utc_times() {
        let default = parse_fixture("snapshot-report.txt.default.expected");
        let alt = parse_fixture("snapshot-report.txt.alt.expected");
        assert_eq!(same_keys(default), same_keys(alt));
    }

    #[test]
    fn the_html_format_gives_the_same_events_as_the_text_format() {
        for (html, text) in [
            (
                "snapshot-report.html.default.expected",
                "snapshot-report.txt.default.expected",
            ),
            (
                "snapshot-report.html.alt.expected",
                "snapshot-report.txt.alt.expected",
            ),
            (
                "snapshot-report.html.success.expected",
                "snapshot-report.txt.success.expected",
            ),
        ] {
            assert_eq!(
                same_keys(parse_fixture(html)),
                same_keys(parse_fixture(text)),
                "{html}"
            );
        }
    }

    #[test]
    fn the_html_generic_error_includes_the_message() {
        let events = parse_fixture("generic-error.html.default.expected");
        assert_eq!(events[0].status(), RunStatus::Failed);
        assert_eq!(
            events[0].error(),
            Some("Some Operation failed: error message\nerror details")
        );
        assert_eq!(events[0].duration_ms(), Some(1000));
    }

    #[test]
    fn the_html_test_notification_is_a_test_event() {
        let zone = TimeZone::UTC;
        let body = b"<p>This is a test notification from Kopia.</p>\n<li>Kopia Version: <b>v0.23.1</b></li>";
        let events = Kopia
            .parse(&Inbound::new(&[], body, &zone))
            .unwrap()
            .unwrap();
        assert_eq!(events[0].kind(), EventKind::Test);
    }

    #[test]
    fn a_start_that_does_not_read_keeps_the_snapshots_figures() {
        let zone = TimeZone::UTC;
        // Written by hand: 2 January 2026 was a Friday, not a Thursday.
        let body = b"Path: /data\n\n  Status:      success\n  Start:       Thu, 02 Jan 2026 03:04:05 +0000\n  \
                     Duration:    1m2.5s\n  Size:        45.6 GB (+56 MB)\n  Files:       123456 (+23)\n  \
                     Directories: 3300 (+3)\n\nGenerated at Thu, 02 Jan 2026 03:05:08 +0000 by Kopia v0.23.1.";
        let events = Kopia
            .parse(&Inbound::new(&[], body, &zone))
            .unwrap()
            .unwrap();
        let event = &events[0];
        assert_eq!(event.status(), RunStatus::Success);
        assert_eq!(event.started_at(), None);
        assert_eq!(event.size_bytes(), Some(45_600_000_000));
        assert_eq!(event.files(), Some(123_456));
        assert_eq!(event.duration_ms(), Some(62_500));
    }

    #[test]
    fn single_success_report() {
        let events = parse_fixture("snapshot-report.txt.success.expected");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status(), RunStatus::Success);
        assert_eq!(events[0].sender(), KIND);
    }

    #[test]
    fn generic_error_is_a_failed_run_without_a_source() {
        let events = parse_fixture("generic-error.txt.default.expected");
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Failed));
        assert_eq!(e.source(), None);
        assert_eq!(e.error(), Some("Some Operation failed: error details"));
        assert_eq!(e.started_at(), Some(ts("2020-01-02T03:04:05Z")));
        assert_eq!(e.duration_ms(), Some(1000));
    }

    #[test]
    fn test_notification_is_a_test_event() {
        let events = parse_fixture("test-notification.txt");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind(), EventKind::Test);
    }

    #[test]
    fn the_host_of_the_subject_is_kept_and_a_resent_report_has_the_same_key() {
        let events = parse_fixture("snapshot-report.txt.success.expected");
        assert_eq!(events[0].host(), Some("some-host"));
        let again = parse_fixture("snapshot-report.txt.success.expected");
        assert!(events[0].dedup_key().is_some());
        assert_eq!(events[0].dedup_key(), again[0].dedup_key());
        let failed = parse_fixture("snapshot-report.txt.default.expected");
        assert_eq!(failed[0].started_at(), None);
        assert!(
            failed.iter().all(|e| e.dedup_key().is_some()),
            "every snapshot has a key"
        );
        assert_eq!(
            host_of("Kopia has encountered an error during Maintenance on nas"),
            Some("nas")
        );
        assert_eq!(host_of("Test notification from Kopia at 2020-01-01"), None);
    }

    #[test]
    fn legacy_status_codes_map() {
        assert_eq!(status_from_code("ok").0, RunStatus::Success);
        assert_eq!(status_from_code("error").0, RunStatus::Failed);
        assert_eq!(status_from_code("incomplete").0, RunStatus::Warning);
        assert_eq!(status_from_code("warnings").0, RunStatus::Warning);
        assert_eq!(
            status_from_code("weird"),
            (
                RunStatus::Warning,
                Some("status 'weird' not understood".into())
            )
        );
    }

    #[test]
    fn blocks_without_status_take_the_subject() {
        let headers = vec![(
            "Subject".to_string(),
            "Failed to create a snapshot of /x on h".to_string(),
        )];
        let zone = TimeZone::UTC;
        let inbound = Inbound::new(&headers, b"Path: /x\n\n  Duration: 1s\n", &zone);
        let events = Kopia.parse(&inbound).unwrap().unwrap();
        assert_eq!(events[0].status(), RunStatus::Failed);
    }

    #[test]
    fn other_text_is_not_kopia() {
        let zone = TimeZone::UTC;
        let inbound = Inbound::new(&[], b"hello", &zone);
        assert!(Kopia.parse(&inbound).is_none());
    }
}

//! Duplicati's `--send-http-*` reports (senders.md §5): the JSON report
//! (`--send-http-json-urls`) and the form-encoded text report (`message=…`,
//! `--send-http-url`/`--send-http-form-urls`). Duplicati retries, so each run is
//! deduplicated on its backup ID and begin time. Also its live status
//! (`--http-report-status-url`, senders-2.md §7): `Started` and `Progress` are the running
//! backup's progress, `Completed` ends it (the result comes with the final report: a
//! finished run with errors still says `Completed`), `Failed` is a failed run.

use serde_json::Value;

use super::fields::{json_count, json_text, parse_time};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, EventKind, Progress, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("duplicati");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Duplicati",
    sniffer: Some(&Duplicati),
};

pub struct Duplicati;

impl Sender for Duplicati {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        if let Some(json) = inbound.json() {
            if json.get("Data").is_some() && json.get("Extra").is_some() {
                return Some(Ok(vec![from_json(json, inbound)]));
            }
            if is_live_status(json) {
                return Some(Ok(from_live_status(json, inbound)));
            }
            return None;
        }
        let report = form_message(inbound.body())?;
        Some(Ok(vec![from_text(&report)]))
    }
}

fn status_of(parsed_result: Option<&str>) -> (RunStatus, Option<String>) {
    super::status_or_note(parsed_result, |result| match result {
        "Success" => Some(RunStatus::Success),
        "Warning" => Some(RunStatus::Warning),
        "Error" | "Fatal" => Some(RunStatus::Failed),
        _ => None,
    })
}

/// Backups are runs; other operations (only sent with `--send-http-any-operation`) are logs.
fn kind_of(operation: Option<&str>) -> EventKind {
    match operation {
        None | Some("Backup") => EventKind::Run,
        Some(_) => EventKind::Log,
    }
}

fn from_json(json: &Value, inbound: &Inbound<'_>) -> BackupEvent {
    let exception = json_text(json, &["Exception"]);
    let (mut status, mut note) = status_of(json_text(json, &["Data", "ParsedResult"]).as_deref());
    if exception.is_some() {
        (status, note) = (RunStatus::Failed, None);
    }
    let operation = json_text(json, &["Extra", "OperationName"])
        .or_else(|| json_text(json, &["Data", "MainOperation"]));
    let time = |field: &str| {
        json_text(json, &["Data", field]).and_then(|t| parse_time(&t, inbound.zone()))
    };
    let mut event = BackupEvent::new(KIND, kind_of(operation.as_deref()), status)
        .with_times(time("BeginTime"), time("EndTime"))
        .with_note(note);
    if let Some(ms) = json_text(json, &["Data", "Duration"]).and_then(|d| timespan_ms(&d))
        && event.duration_ms().is_none()
    {
        event = event.with_duration_ms(ms);
    }
    let job = json_text(json, &["Extra", "backup-name"])
        .or_else(|| json_text(json, &["Extra", "backup-id"]));
    if let Some(job) = &job {
        event = event.with_source(job);
    }
    if let Some(machine) = json_text(json, &["Extra", "machine-name"]) {
        event = event.with_host(&machine);
    }
    if let Some(destination) = json_text(json, &["Extra", "destination-type"]) {
        event = event.with_target(&destination);
    }
    if let Some(bytes) = json_count(json, &["Data", "SizeOfExaminedFiles"]) {
        event = event.with_size_bytes(bytes);
    }
    if let Some(files) = json_count(json, &["Data", "ExaminedFiles"]) {
        event = event.with_files(files);
    }
    let error = exception
        .or_else(|| first_message(json, "LimitedErrors"))
        .or_else(|| {
            (status == RunStatus::Warning)
                .then(|| first_message(json, "LimitedWarnings"))
                .flatten()
        });
    if let Some(error) = error {
        event = event.with_error(&error);
    }
    let begin = json_text(json, &["Data", "BeginTime"]);
    let id = json_text(json, &["Extra", "backup-id"]).or(job);
    if let (Some(id), Some(begin)) = (id, begin) {
        event = event.with_dedup_key(format!("duplicati:{id}:{begin}"));
    }
    event
}

/// `{"operation", "status": "Started|Progress|Completed|Failed", "progress", "metadata"…}`.
fn is_live_status(json: &Value) -> bool {
    json.get("operation").is_some_and(Value::is_string)
        && json.get("status").is_some_and(Value::is_string)
        && (json.get("progress").is_some()
            || json.get("metadata").is_some()
            || json.get("startedUtc").is_some())
}

fn from_live_status(json: &Value, inbound: &Inbound<'_>) -> Vec<BackupEvent> {
    let text = |path: &[&str]| json_text(json, path);
    let started = text(&["startedUtc"]).and_then(|t| parse_time(&t, inbound.zone()));
    let reported = text(&["reportedUtc"]).and_then(|t| parse_time(&t, inbound.zone()));
    let job = text(&["metadata", "backupName"]).or_else(|| text(&["metadata", "backupId"]));
    let about = |mut event: BackupEvent| {
        if let Some(job) = &job {
            event = event.with_source(job);
        }
        if let Some(machine) = text(&["metadata", "machineName"]) {
            event = event.with_host(&machine);
        }
        event
    };
    let progress = |done: bool| {
        let mut event = about(BackupEvent::progress_report(
            KIND,
            Progress {
                fraction: json
                    .pointer("/progress/progress")
                    .and_then(Value::as_f64)
                    .map(|f| f.clamp(0.0, 1.0)),
                phase: text(&["progress", "phase"]),
                files_total: json_count(json, &["progress", "fileCount"]).map(clamp_i64),
                bytes_total: json_count(json, &["progress", "fileSize"]).map(clamp_i64),
                done,
            },
        ))
        .with_times(started, None);
        if let Some(files) = json_count(json, &["progress", "filesProcessed"]) {
            event = event.with_files(files);
        }
        if let Some(bytes) = json_count(json, &["progress", "fileSizeProcessed"]) {
            event = event.with_size_bytes(bytes);
        }
        event
    };
    let operation = text(&["operation"]);
    match text(&["status"]).as_deref() {
        Some("Completed") => vec![
            about(BackupEvent::new(
                KIND,
                EventKind::Log,
                RunStatus::Unknown,
            ))
            .with_times(started, reported)
            .with_error(&format!(
                "Duplicati's live status: {} completed; its result comes with the final report (--send-http-json-urls)",
                operation.as_deref().unwrap_or("the operation")
            )),
            progress(true),
        ],
        Some("Failed") => {
            let why = text(&["errorMessage"])
                .unwrap_or_else(|| "Duplicati's live status says the operation failed".into());
            vec![
                about(BackupEvent::new(
                    KIND,
                    kind_of(operation.as_deref()),
                    RunStatus::Failed,
                ))
                .with_times(started, reported)
                .with_error(&why),
                progress(true),
            ]
        }
        // `Started`, `Progress`, and whatever a later version adds while running.
        _ => vec![progress(false)],
    }
}

fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn first_message(json: &Value, list: &str) -> Option<String> {
    json.get("Data")?
        .get(list)?
        .as_array()?
        .iter()
        .find_map(|m| m.as_str().map(str::to_owned))
}

/// The `message` field of a form-encoded Duplicati report, if this is one.
fn form_message(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains('=') || text.trim_start().starts_with('{') {
        return None;
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(text).ok()?;
    fields.into_iter().find_map(|(name, value)| {
        let is_report = value.contains("ParsedResult:") || value.starts_with("Duplicati ");
        (name == "message" && is_report).then_some(value)
    })
}

/// The text report: a header line, then `Key: Value` lines; times are
/// `<local time> (<unix seconds>)`.
fn from_text(report: &str) -> BackupEvent {
    let value = |key: &str| {
        report.lines().find_map(|line| {
            let (k, v) = line.trim_start().split_once(':')?;
            (k == key).then(|| v.trim().to_owned())
        })
    };
    let unix_time = |key: &str| {
        let text = value(key)?;
        let seconds = text
            .rsplit_once('(')?
            .1
            .trim_end_matches(')')
            .trim()
            .parse::<i64>()
            .ok()?;
        jiff::Timestamp::from_second(seconds).ok()
    };
    let failure = value("Failed");
    let (mut status, mut note) = status_of(value("ParsedResult").as_deref());
    if failure.is_some() {
        (status, note) = (RunStatus::Failed, None);
    }
    let header = report.lines().next().unwrap_or_default();
    // "Duplicati Backup report for <job> (<machine-id>, <backup-id>, <machine-name>)"
    let operation = header
        .strip_prefix("Duplicati ")
        .and_then(|rest| rest.split(' ').next());
    let job = header
        .split_once(" report for ")
        .map(|(_, rest)| rest.rsplit_once(" (").map_or(rest, |(job, _)| job));
    let mut event = BackupEvent::new(KIND, kind_of(operation), status)
        .with_times(unix_time("BeginTime"), unix_time("EndTime"))
        .with_note(note);
    if let Some(job) = job {
        event = event.with_source(job);
    }
    if let Some(ms) = value("Duration").and_then(|d| timespan_ms(&d))
        && event.duration_ms().is_none()
    {
        event = event.with_duration_ms(ms);
    }
    if let Some(bytes) = value("SizeOfExaminedFiles").and_then(|v| v.parse().ok()) {
        event = event.with_size_bytes(bytes);
    }
    if let Some(files) = value("ExaminedFiles").and_then(|v| v.parse().ok()) {
        event = event.with_files(files);
    }
    if let Some(failure) = failure {
        event = event.with_error(&failure);
    }
    if let (Some(job), Some(begin)) = (job, value("BeginTime")) {
        event = event.with_dedup_key(format!("duplicati:{job}:{begin}"));
    }
    event
}

/// .NET's TimeSpan text: `[d.]hh:mm:ss[.fffffff]`.
fn timespan_ms(text: &str) -> Option<i64> {
    let (days, clock) = match text.split_once('.') {
        Some((d, rest)) if rest.contains(':') && !d.contains(':') => (d.parse::<i64>().ok()?, rest),
        _ => (0, text),
    };
    let mut parts = clock.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some()
        || !(0.0..60.0).contains(&seconds)
        || minutes >= 60
        || hours < 0
        || days < 0
    {
        return None;
    }
    // Checked: a day count from a broken report must not overflow (a debug panic, or a
    // wrapped, negative duration in a release build).
    let whole = days
        .checked_mul(24)?
        .checked_add(hours)?
        .checked_mul(60)?
        .checked_add(minutes)?
        .checked_mul(60_000)?;
    whole.checked_add(super::fields::seconds_to_ms(seconds)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_timespans_are_refused_not_overflowed() {
        assert_eq!(
            super::timespan_ms("1.02:03:04.5"),
            Some(((26 * 60 + 3) * 60 + 4) * 1000 + 500)
        );
        assert_eq!(super::timespan_ms("99999999999999999.00:00:00"), None);
        assert_eq!(super::timespan_ms("9223372036854775807:00:00"), None);
    }

    use jiff::tz::TimeZone;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/duplicati");

    fn parse_file(name: &str) -> BackupEvent {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        Duplicati
            .parse(&Inbound::new(&[], &body, &TimeZone::UTC))
            .unwrap()
            .unwrap()
            .remove(0)
    }

    #[test]
    fn the_json_report() {
        let e = parse_file("backup-success.json");
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Success));
        assert_eq!(e.source(), Some("Photos"));
        assert_eq!(e.host(), Some("nas"));
        assert_eq!(e.size_bytes(), Some(4_832_198_656));
        assert_eq!(e.files(), Some(1520));
        assert_eq!(
            e.started_at(),
            Some("2025-03-10T02:00:00.1234567Z".parse().unwrap())
        );
        assert_eq!(e.duration_ms(), Some(72_222));
        assert_eq!(
            e.dedup_key(),
            Some("duplicati:DB-3:2025-03-10T02:00:00.1234567Z")
        );
    }

    #[test]
    fn a_fatal_json_report_with_an_exception() {
        let e = parse_file("backup-fatal.json");
        assert_eq!(e.status(), RunStatus::Failed);
        assert!(
            e.error()
                .unwrap()
                .starts_with("System.IO.IOException: There is not enough space")
        );
    }

    #[test]
    fn the_form_encoded_text_report() {
        let e = parse_file("backup-warning.form");
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Warning));
        assert_eq!(e.source(), Some("Photos"));
        assert_eq!(
            e.started_at(),
            Some(jiff::Timestamp::from_second(1_741_572_000).unwrap())
        );
        assert_eq!(e.duration_ms(), Some(72_000));
        assert_eq!(e.size_bytes(), Some(4_832_198_656));
    }

    #[test]
    fn timespans() {
        assert_eq!(timespan_ms("00:01:12.2222222"), Some(72_222));
        assert_eq!(timespan_ms("1.02:00:00"), Some(26 * 3_600_000));
        assert_eq!(timespan_ms("bogus"), None);
        assert_eq!(timespan_ms("00:99:00"), None);
    }
}

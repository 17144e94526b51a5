//! Healthchecks-compatible pings (senders.md §10): `/ping/<id>` and `/ping/<id>/start`,
//! `/fail`, `/log` or `/<exit status>`, with an optional `?rid=<uuid>` run ID. Used by
//! borgmatic, resticprofile, Backrest's healthchecks hook and cron jobs with curl.

use super::SenderError;
use super::backrest::Summary;
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("healthchecks");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Healthchecks-style ping",
    sniffer: None,
};

/// Bodies are kept up to this size, like the hosted Healthchecks (and borgmatic's default).
pub const PING_BODY_LIMIT: usize = 100_000;

/// What the URL's last segment says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Success,
    Start,
    Fail,
    Log,
    ExitStatus(u8),
}

impl Signal {
    /// `None` is the bare ping URL (success).
    pub fn parse(suffix: Option<&str>) -> Result<Self, SenderError> {
        match suffix {
            None | Some("") => Ok(Self::Success),
            Some("start") => Ok(Self::Start),
            Some("fail") => Ok(Self::Fail),
            Some("log") => Ok(Self::Log),
            Some(code)
                if !code.is_empty()
                    && code.len() <= 10
                    && code.bytes().all(|b| b.is_ascii_digit()) =>
            {
                code.parse::<u8>().map(Self::ExitStatus).map_err(|_| {
                    SenderError::Invalid("invalid url format: an exit status is 0 to 255".into())
                })
            }
            Some(_) => Err(SenderError::Invalid(
                "invalid url format: use /ping/<id>, /start, /fail, /log or /<exit status 0-255>"
                    .into(),
            )),
        }
    }
}

/// `rid` must be a UUID in its canonical text form.
pub fn parse_rid(rid: Option<&str>) -> Result<Option<String>, SenderError> {
    let Some(rid) = rid else { return Ok(None) };
    let groups: Vec<&str> = rid.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let canonical = lengths == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if canonical {
        Ok(Some(rid.to_ascii_lowercase()))
    } else {
        Err(SenderError::Invalid(
            "invalid uuid format: rid must be a UUID such as 4f0c…-…".into(),
        ))
    }
}

/// The event a ping stands for. The body (logs, Backrest's summary) is kept, bounded.
pub fn ping_event(signal: Signal, rid: Option<String>, body: &[u8]) -> BackupEvent {
    let body = &body[..body.len().min(PING_BODY_LIMIT)];
    let text = String::from_utf8_lossy(body);
    let summary = Summary::parse(&text);
    let sender = if summary.is_some() {
        crate::senders::backrest::KIND
    } else {
        KIND
    };
    let (kind, status) = match signal {
        Signal::Success | Signal::ExitStatus(0) => (EventKind::Run, RunStatus::Success),
        Signal::Fail | Signal::ExitStatus(_) => (EventKind::Run, RunStatus::Failed),
        Signal::Start => (EventKind::Start, RunStatus::Unknown),
        Signal::Log => (EventKind::Log, RunStatus::Unknown),
    };
    let kind = match summary.as_ref().map(Summary::outcome) {
        // Backrest's check: its own clock, and its start is no backup running.
        Some((EventKind::Check, _)) if kind == EventKind::Run => EventKind::Check,
        Some((EventKind::Log, _)) if kind == EventKind::Start => EventKind::Log,
        Some(_) => kind,
        None => super::run_or_check(kind, &text),
    };
    let mut event = BackupEvent::new(sender, kind, status);
    if let Some(summary) = &summary {
        event = summary.apply(event);
    }
    if status == RunStatus::Failed && event.error().is_none() {
        let reason = match signal {
            Signal::ExitStatus(code) => format!("exit status {code}"),
            _ => "the job reported a failure".to_owned(),
        };
        event = match super::fields::failure_line(&text) {
            Some(line) => event.with_error(&format!("{reason}: {line}")),
            None => event.with_error(&reason),
        };
    }
    if !body.is_empty() {
        event = event.with_raw(body);
    }
    if let Some(rid) = rid {
        event = event.with_run_id(rid);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(Signal::parse(None), Ok(Signal::Success));
        assert_eq!(Signal::parse(Some("start")), Ok(Signal::Start));
        assert_eq!(Signal::parse(Some("0")), Ok(Signal::ExitStatus(0)));
        assert_eq!(Signal::parse(Some("255")), Ok(Signal::ExitStatus(255)));
        assert!(
            Signal::parse(Some("256"))
                .unwrap_err()
                .to_string()
                .contains("0 to 255")
        );
        assert!(Signal::parse(Some("99999999999")).is_err());
        assert!(Signal::parse(Some("stop")).is_err());
    }

    #[test]
    fn run_ids_must_be_uuids() {
        assert_eq!(
            parse_rid(Some("3F2504E0-4F89-11D3-9A0C-0305E82C3301")),
            Ok(Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301".into()))
        );
        assert!(
            parse_rid(Some("not-a-uuid"))
                .unwrap_err()
                .to_string()
                .contains("uuid")
        );
        assert_eq!(parse_rid(None), Ok(None));
    }

    #[test]
    fn pings_become_events() {
        let e = ping_event(
            Signal::ExitStatus(2),
            None,
            b"rsync: connection refused\nmore",
        );
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Failed));
        assert_eq!(e.error(), Some("exit status 2: rsync: connection refused"));
        assert_eq!(e.raw().unwrap().len(), 30);
        let log = ping_event(Signal::Log, None, b"");
        assert_eq!((log.kind(), log.raw()), (EventKind::Log, None));
    }

    #[test]
    fn a_failure_log_names_what_failed_not_its_first_line() {
        let log =
            b"Pinging Healthchecks start\nCreating archive\nRepository /mnt/x does not exist.\n";
        let e = ping_event(Signal::Fail, None, log);
        assert_eq!(
            e.error(),
            Some("the job reported a failure: Repository /mnt/x does not exist.")
        );
        assert_eq!(e.raw().unwrap(), log, "the whole log stays viewable");
    }

    #[test]
    fn bodies_are_kept_up_to_the_limit() {
        let e = ping_event(Signal::Log, None, &vec![b'x'; PING_BODY_LIMIT + 10]);
        assert_eq!(e.raw().unwrap().len(), PING_BODY_LIMIT);
    }

    #[test]
    fn backrests_summary_in_a_ping_gives_its_figures() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/backrest/snapshot-success.txt"
        ))
        .unwrap();
        let e = ping_event(Signal::Success, None, &body);
        assert_eq!(e.sender(), crate::senders::backrest::KIND);
        assert_eq!(e.size_bytes(), Some(12_345_000_000));
    }
}

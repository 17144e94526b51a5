//! Shoutrrr's `generic` service (senders-2.md §3), used by Backrest, docker-volume-backup
//! and others: `{"message": …, "title": …}` plus string extras with `template=json`, or the
//! bare message as the body without a template. Any other plain text whose words say how a
//! run went is read the same way (a script's `curl -d "Backup failed: disk full"`).

use serde_json::Value;

use super::notification::{Level, Notification};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, Said, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("shoutrrr");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Shoutrrr",
    sniffer: Some(&Shoutrrr),
};
/// Plain text whose words say how a run went (read by the same reader).
pub const TEXT: SenderKind = SenderKind::named("text");
pub const TEXT_INFO: super::SenderInfo = super::SenderInfo {
    kind: TEXT,
    name: "Text message",
    sniffer: None,
};

pub struct Shoutrrr;

/// Fields that make an object some other sender's report, not a notification.
const REPORT_FIELDS: &[&str] = &[
    "status", "state", "result", "success", "ok", "kind", "event", "type", "version",
];

impl Sender for Shoutrrr {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        if let Some(object) = inbound.json().and_then(Value::as_object) {
            let message = object.get("message")?.as_str()?;
            let all_text = object.values().all(Value::is_string);
            if !all_text || REPORT_FIELDS.iter().any(|f| object.contains_key(*f)) {
                return None;
            }
            let title = object.get("title").and_then(Value::as_str).unwrap_or("");
            return Some(Ok(vec![
                Notification {
                    sender: KIND,
                    title: title.to_owned(),
                    message: message.to_owned(),
                    level: Level::None,
                }
                .into_event(),
            ]));
        }
        // A bare message: only when its words say something, so that arbitrary text stays
        // "not understood" and says so.
        if inbound.looks_like_json() || inbound.looks_like_form() {
            return None;
        }
        let text = inbound.text()?;
        Said::read(text)?;
        Some(Ok(vec![
            Notification {
                sender: TEXT,
                title: String::new(),
                message: text.to_owned(),
                level: Level::None,
            }
            .into_event(),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventKind, RunStatus};
    use jiff::tz::TimeZone;

    fn parse(body: &str) -> Option<BackupEvent> {
        Shoutrrr
            .parse(&Inbound::new(&[], body.as_bytes(), &TimeZone::UTC))
            .map(|r| r.unwrap().remove(0))
    }

    #[test]
    fn docker_volume_backups_title_says_how_it_went() {
        let e = parse(r#"{"message":"Running docker-volume-backup failed with error: exit status 1","title":"Failure running docker-volume-backup at 2026-08-20T03:00:00Z"}"#).unwrap();
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Failed));
        assert_eq!(
            e.error(),
            Some("Running docker-volume-backup failed with error: exit status 1")
        );
        assert_eq!(e.sender(), KIND);
    }

    #[test]
    fn a_bare_message_with_words_is_read_and_without_them_left_alone() {
        let e = parse("Backup of /srv completed with warnings").unwrap();
        assert_eq!(e.status(), RunStatus::Warning);
        assert_eq!(e.sender(), TEXT);
        assert!(parse("hello there").is_none());
        assert!(parse(r#"{"status":"failed","message":"x"}"#).is_none());
    }
}

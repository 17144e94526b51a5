//! What notification libraries and services carry (Apprise, Shoutrrr, ntfy, Gotify): a
//! title, a message and at most a level, never a status field. One conversion to events for
//! all of them, following the table of [`Said`] (DOCS.md, "Status words in free text").

use super::backrest::Summary;
use crate::domain::{BackupEvent, EventKind, RunStatus, Said, SenderKind};

/// How urgent the sender says a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The library's own outcome: Apprise's `success`, `warning`, `failure`.
    Status(RunStatus),
    /// Apprise's `info`: information, unless the words say more.
    Info,
    /// A priority (ntfy 1–5, Gotify 0–10), used only when the words say nothing.
    Priority {
        value: i64,
        failed_from: i64,
        warning_from: i64,
    },
    /// Nothing but the words.
    None,
}

impl Level {
    /// ntfy's 1–5 (`max`/`urgent` 5 is a failure, `high` 4 a warning).
    pub fn ntfy(value: i64) -> Self {
        Self::Priority {
            value,
            failed_from: 5,
            warning_from: 4,
        }
    }

    /// Gotify's 0–10 (8 and up a failure, 4–7 a warning; Proxmox sends error 9, warning 5).
    pub fn gotify(value: i64) -> Self {
        Self::Priority {
            value,
            failed_from: 8,
            warning_from: 4,
        }
    }
}

/// One notification, as its sender gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub sender: SenderKind,
    pub title: String,
    pub message: String,
    pub level: Level,
}

impl Notification {
    /// The event this notification reports. A message that is a Backrest summary (its
    /// Gotify and Shoutrrr hooks send one) is read as one. Otherwise the title's words, then
    /// the message's, then the level decide; a notification nobody can read is a warning
    /// that names its text.
    pub fn into_event(self) -> BackupEvent {
        if let Some(summary) = Summary::parse(&self.message) {
            let (kind, status) = summary.outcome();
            return summary
                .apply(BackupEvent::new(
                    crate::senders::backrest::KIND,
                    kind,
                    status,
                ))
                .with_raw(self.message.as_bytes());
        }
        let said = Said::read(&self.title).or_else(|| Said::read(&self.message));
        let (kind, status, note) = match (self.level, said) {
            (Level::Status(status), _) => (EventKind::Run, status, None),
            (_, Some(Said::Started)) => (EventKind::Start, RunStatus::Unknown, None),
            (_, Some(Said::Ended(status))) => (EventKind::Run, status, None),
            (Level::Info, None) => (EventKind::Log, RunStatus::Unknown, None),
            (
                Level::Priority {
                    value,
                    failed_from,
                    warning_from,
                },
                None,
            ) if value >= warning_from => {
                let status = if value >= failed_from {
                    RunStatus::Failed
                } else {
                    RunStatus::Warning
                };
                (EventKind::Run, status, None)
            }
            (Level::Priority { .. } | Level::None, None) => (
                EventKind::Run,
                RunStatus::Warning,
                Some(format!(
                    "status not understood from the notification {:?}",
                    self.shown()
                )),
            ),
        };
        let kind = super::run_or_check(kind, &self.message);
        let mut event = BackupEvent::new(self.sender, kind, status);
        if status == RunStatus::Failed || status == RunStatus::Warning {
            let reason = match status {
                RunStatus::Failed => super::fields::failure_line(&self.message),
                _ => super::first_line(&self.message),
            }
            .or_else(|| super::first_line(&self.title));
            if note.is_none()
                && let Some(reason) = reason
            {
                event = event.with_error(&reason);
            }
        }
        event = event.with_note(note);
        let text = match (self.title.trim(), self.message.trim()) {
            ("", message) => message.to_owned(),
            (title, "") => title.to_owned(),
            (title, message) => format!("{title}\n\n{message}"),
        };
        if !text.is_empty() {
            event = event.with_raw(text.as_bytes());
        }
        event
    }

    /// The title, or the message's first line, for a note.
    fn shown(&self) -> String {
        super::first_line(&self.title)
            .or_else(|| super::first_line(&self.message))
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(title: &str, message: &str, level: Level) -> BackupEvent {
        Notification {
            sender: crate::senders::apprise::KIND,
            title: title.into(),
            message: message.into(),
            level,
        }
        .into_event()
    }

    #[test]
    fn the_level_the_words_then_the_priority_decide() {
        let e = note("Backup", "done", Level::Status(RunStatus::Failed));
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Failed));
        let e = note("A borgmatic START event happened", "", Level::Info);
        assert_eq!(e.kind(), EventKind::Start);
        let e = note("A borgmatic LOG event happened", "some log", Level::Info);
        assert_eq!(e.kind(), EventKind::Log);
        let e = note("Nightly", "all good, 0 errors, finished", Level::ntfy(3));
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Success));
        let e = note("Nightly", "see attachment", Level::ntfy(5));
        assert_eq!(e.status(), RunStatus::Failed);
        let e = note("Nightly", "see attachment", Level::gotify(5));
        assert_eq!(e.status(), RunStatus::Warning);
    }

    #[test]
    fn a_notification_nobody_can_read_is_a_warning_that_names_it() {
        let e = note("Nightly report", "see attachment", Level::None);
        assert_eq!(e.status(), RunStatus::Warning);
        assert_eq!(
            e.error(),
            Some("status not understood from the notification \"Nightly report\"")
        );
    }

    #[test]
    fn a_failure_names_the_line_that_failed() {
        let message = "A borgmatic FAIL event happened\n\nCreating archive\nRepository /mnt/x does not exist.\nCommand returned exit code 2";
        let e = note(
            "A borgmatic FAIL event happened",
            message,
            Level::Status(RunStatus::Failed),
        );
        assert_eq!(e.error(), Some("Repository /mnt/x does not exist."));
        assert!(e.raw().is_some());
    }
}

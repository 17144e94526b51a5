//! What free text says happened: the titles and messages of notification libraries
//! (Apprise, Shoutrrr, ntfy, Gotify), which carry no status field of their own.
//!
//! One table, documented in DOCS.md ("Status words in free text"):
//! - failed: fail, failed, failure, failing, error, errors, fatal, abort, aborted, crash,
//!   crashed, interrupted, killed, cancelled, canceled, timeout, critical, panic
//! - warning: warning, warnings, warn, partial, partially, incomplete, degraded
//! - success: success, successful, successfully, succeeded, completed, complete, finished,
//!   finish, done, ok, passed
//! - started: start, started, starting, began, begin, beginning
//!
//! The worst wins (failed, then warning, then success, then started): "completed with
//! warnings" is a warning, "finished with errors" a failure. A word right after "0", "no",
//! "zero", "not" or "without" does not count ("0 errors", "without warnings"), nor an
//! error or warning word followed by "0" or "none" ("Errors: 0", as duplicity prints).

use super::RunStatus;

/// What a text says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// A run began.
    Started,
    /// A run ended so.
    Ended(RunStatus),
}

const FAILED: &[&str] = &[
    "fail",
    "failed",
    "failure",
    "failing",
    "error",
    "errors",
    "fatal",
    "abort",
    "aborted",
    "crash",
    "crashed",
    "interrupted",
    "killed",
    "cancelled",
    "canceled",
    "timeout",
    "critical",
    "panic",
];
const WARNING: &[&str] = &[
    "warning",
    "warnings",
    "warn",
    "partial",
    "partially",
    "incomplete",
    "degraded",
];
const SUCCESS: &[&str] = &[
    "success",
    "successful",
    "successfully",
    "succeeded",
    "completed",
    "complete",
    "finished",
    "finish",
    "done",
    "ok",
    "passed",
];
const STARTED: &[&str] = &[
    "start",
    "started",
    "starting",
    "began",
    "begin",
    "beginning",
];
const NEGATIONS: &[&str] = &["0", "no", "zero", "not", "without"];
/// A count after the word that says there were none: "Errors: 0", "warnings: none".
const ZERO_AFTER: &[&str] = &["0", "none"];

impl Said {
    /// What `text` says, or `None` when it has none of the table's words.
    pub fn read(text: &str) -> Option<Self> {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let counted = |w: &str| FAILED.contains(&w) || WARNING.contains(&w);
        // "0 errors", but in "Errors: 0, warnings: 3" the 0 is the count of the word before.
        let negated = |i: usize| {
            i > 0
                && NEGATIONS.contains(&words[i - 1])
                && !(ZERO_AFTER.contains(&words[i - 1]) && i > 1 && counted(words[i - 2]))
        };
        let has = |set: &[&str]| {
            words.iter().enumerate().any(|(i, w)| {
                set.contains(w)
                    && !negated(i)
                    && !(counted(w) && words.get(i + 1).is_some_and(|n| ZERO_AFTER.contains(n)))
            })
        };
        if has(FAILED) {
            Some(Self::Ended(RunStatus::Failed))
        } else if has(WARNING) {
            Some(Self::Ended(RunStatus::Warning))
        } else if has(SUCCESS) {
            Some(Self::Ended(RunStatus::Success))
        } else if has(STARTED) {
            Some(Self::Started)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Option<Said> {
        Said::read(text)
    }

    /// duplicity's statistics and many scripts put the count after the word.
    #[test]
    fn a_count_of_zero_after_the_word_does_not_count() {
        use RunStatus::*;
        assert_eq!(
            said("Backup finished. Errors: 0, Warnings: 0"),
            Some(Said::Ended(Success))
        );
        assert_eq!(said("Errors 0"), None);
        assert_eq!(said("warnings: none"), None);
        assert_eq!(said("Errors: 2"), Some(Said::Ended(Failed)));
        assert_eq!(
            said("Errors: 0, warnings: 3, done"),
            Some(Said::Ended(Warning))
        );
    }

    #[test]
    fn the_worst_word_wins_and_negated_words_do_not_count() {
        use RunStatus::*;
        assert_eq!(said("Backup failed"), Some(Said::Ended(Failed)));
        assert_eq!(
            said("Backup completed with warnings"),
            Some(Said::Ended(Warning))
        );
        assert_eq!(said("Finished with errors"), Some(Said::Ended(Failed)));
        assert_eq!(
            said("Completed: 0 errors, no warnings"),
            Some(Said::Ended(Success))
        );
        assert_eq!(
            said("A borgmatic FINISH event happened"),
            Some(Said::Ended(Success))
        );
        assert_eq!(
            said("A borgmatic FAIL event happened"),
            Some(Said::Ended(Failed))
        );
        assert_eq!(
            said("A borgmatic START event happened"),
            Some(Said::Started)
        );
        assert_eq!(
            said("Failure running docker-volume-backup at 2026-08-20T03:00:00Z"),
            Some(Said::Ended(Failed))
        );
        assert_eq!(
            said("Success running docker-volume-backup"),
            Some(Said::Ended(Success))
        );
        assert_eq!(
            said("Backup started at 03:00, finished at 03:10"),
            Some(Said::Ended(Success))
        );
        assert_eq!(said("Nightly report"), None);
        assert_eq!(said("A borgmatic LOG event happened"), None);
        // Parts of words are not words: "errorless" and "okay-ish" say nothing here.
        assert_eq!(said("errorless"), None);
    }
}

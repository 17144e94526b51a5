//! Uptime-Kuma-compatible pushes (senders.md §11): `/api/push/<id>?status=up&msg=OK&ping=`.
//! borgmatic pushes `status=up&msg=start` when a backup begins, then `msg=finish` or
//! `status=down&msg=fail`.

use super::SenderError;
use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("uptime_kuma");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Uptime-Kuma-style push",
    sniffer: None,
};

pub fn push_event(query: &str) -> Result<BackupEvent, SenderError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| SenderError::Invalid(format!("the query string is not valid: {e}")))?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    let up = param("status").is_none_or(|s| s == "up");
    let message = param("msg").unwrap_or("OK");
    let ping_ms = match param("ping").filter(|p| !p.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<f64>()
                .ok()
                .filter(|ms| (0.0..=86_400_000.0).contains(ms))
                .ok_or_else(|| {
                    SenderError::Invalid(
                        "invalid ping value: use milliseconds from 0 to 86400000".into(),
                    )
                })?,
        ),
    };
    let mut event = if !up {
        BackupEvent::new(KIND, EventKind::Run, RunStatus::Failed).with_error(message)
    } else if message.eq_ignore_ascii_case("start") {
        BackupEvent::new(KIND, EventKind::Start, RunStatus::Unknown)
    } else {
        BackupEvent::new(KIND, EventKind::Run, RunStatus::Success)
    };
    if let Some(ms) = ping_ms.and_then(super::fields::milliseconds) {
        event = event.with_duration_ms(ms);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borgmatics_pushes() {
        let start = push_event("status=up&msg=start").unwrap();
        assert_eq!(start.kind(), EventKind::Start);
        let finish = push_event("status=up&msg=finish").unwrap();
        assert_eq!(
            (finish.kind(), finish.status()),
            (EventKind::Run, RunStatus::Success)
        );
        let fail = push_event("status=down&msg=fail").unwrap();
        assert_eq!(
            (fail.status(), fail.error()),
            (RunStatus::Failed, Some("fail"))
        );
    }

    #[test]
    fn defaults_and_ping() {
        let e = push_event("").unwrap();
        assert_eq!(e.status(), RunStatus::Success);
        assert_eq!(push_event("ping=1234").unwrap().duration_ms(), Some(1234));
        assert!(
            push_event("ping=-1")
                .unwrap_err()
                .to_string()
                .contains("ping")
        );
        assert!(push_event("ping=abc").is_err());
        assert_eq!(
            push_event("status=pending&msg=disk%20full")
                .unwrap()
                .error(),
            Some("disk full")
        );
    }
}

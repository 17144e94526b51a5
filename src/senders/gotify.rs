//! Gotify's `POST /message` (senders-2.md §5), for Backrest's and Proxmox's Gotify targets,
//! Apprise's and Shoutrrr's `gotify://`: the application token is the monitor's webhook
//! ID, taken from `?token=`, `X-Gotify-Key` or `Authorization: Bearer`, as Gotify does.

use serde_json::Value;

use super::notification::{Level, Notification};
use super::{Inbound, SenderError};
use crate::domain::SenderKind;

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("gotify");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Gotify",
    sniffer: None,
};

/// The token, in Gotify's order: query, header, bearer.
pub fn token<'a>(inbound: &'a Inbound<'_>) -> Option<&'a str> {
    inbound
        .query_param("token")
        .or_else(|| inbound.header("X-Gotify-Key"))
        .or_else(|| {
            inbound
                .header("Authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The message, as JSON or a form; `message` is required, as in Gotify.
pub fn message(inbound: &Inbound<'_>) -> Result<Notification, SenderError> {
    let (title, message, priority) = if let Some(object) = inbound.json().and_then(Value::as_object)
    {
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        let priority = object.get("priority").and_then(Value::as_i64);
        (text("title"), text("message"), priority)
    } else {
        let fields = inbound.form();
        let field = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_owned())
        };
        (
            field("title"),
            field("message"),
            field("priority").and_then(|p| p.parse().ok()),
        )
    };
    let message = message.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
        SenderError::Invalid("Gotify messages need a \"message\" (JSON or a form field)".into())
    })?;
    // Proxmox wraps its text in a Markdown code fence.
    let message = message
        .trim()
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim()
        .to_owned();
    Ok(Notification {
        sender: KIND,
        title: title.unwrap_or_default(),
        message,
        level: match priority {
            Some(p) => Level::gotify(p),
            None => Level::None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunStatus;
    use jiff::tz::TimeZone;

    #[test]
    fn proxmox_sends_the_token_twice_and_a_fenced_message() {
        let utc = TimeZone::UTC;
        let headers = vec![
            ("Authorization".to_owned(), "Bearer abc".to_owned()),
            ("X-Gotify-Key".to_owned(), "abc".to_owned()),
        ];
        let body = r#"{"title":"vzdump backup status (pve1): backup failed","message":"```\nvzdump job failed: storage 'nas' is not online\n```","priority":9,"extras":{"client::display":{"contentType":"text/markdown"}}}"#;
        let inbound = Inbound::new(&headers, body.as_bytes(), &utc);
        assert_eq!(token(&inbound), Some("abc"));
        let e = message(&inbound).unwrap().into_event();
        assert_eq!(e.status(), RunStatus::Failed);
        assert_eq!(
            e.error(),
            Some("vzdump job failed: storage 'nas' is not online")
        );
    }

    #[test]
    fn the_query_token_wins_and_a_message_is_required() {
        let utc = TimeZone::UTC;
        let headers = vec![("X-Gotify-Key".to_owned(), "h".to_owned())];
        let inbound = Inbound::new(&headers, b"title=x&priority=2", &utc).with_query("token=q");
        assert_eq!(token(&inbound), Some("q"));
        assert!(message(&inbound).is_err());
    }
}

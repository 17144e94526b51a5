//! ntfy's publish API (senders-2.md §6), for borgmatic's `ntfy` hook, Apprise's and
//! Shoutrrr's `ntfy://` and scripts: the topic is the monitor's webhook ID.
//!
//! - `PUT|POST /ntfy/<topic>` (and `/<topic>`): the body is the message; `Title`,
//!   `Priority`, `Tags` and `Message` come as headers (`X-` or not) or query parameters
//!   (`t`, `p`, `ta`, `m`).
//! - `GET /ntfy/<topic>/publish|send|trigger?…`: the same from the query alone.
//! - `POST /ntfy` (and `/`): JSON `{topic, title, message, priority, tags}`.

use serde_json::Value;

use super::notification::{Level, Notification};
use super::{Inbound, SenderError};
use crate::domain::SenderKind;

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("ntfy");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "ntfy",
    sniffer: None,
};

/// A publish request, before its monitor is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub topic: String,
    pub notification: Notification,
}

/// `POST /ntfy` (or `/`) with a JSON body naming the topic.
pub fn from_json(inbound: &Inbound<'_>) -> Result<Publish, SenderError> {
    let object = inbound.json().and_then(Value::as_object).ok_or_else(|| {
        SenderError::Invalid(
            "ntfy's JSON publishing needs a JSON object with \"topic\" (this monitor's webhook ID) and \"message\"".into(),
        )
    })?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or("");
    let topic = text("topic");
    if topic.is_empty() {
        return Err(SenderError::Invalid(
            "the JSON has no \"topic\": set the topic to this monitor's webhook ID".into(),
        ));
    }
    let priority = match object.get("priority") {
        None | Some(Value::Null) => 3,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(3),
        // As ntfy itself answers.
        Some(_) => {
            return Err(SenderError::Invalid(
                "priority must be a number from 1 to 5 in ntfy's JSON".into(),
            ));
        }
    };
    let tags: Vec<&str> = match object.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(SenderError::Invalid(
                "tags must be a list of strings in ntfy's JSON".into(),
            ));
        }
    };
    Ok(Publish {
        topic: topic.to_owned(),
        notification: notification(text("title"), text("message"), priority, &tags),
    })
}

/// `PUT|POST /ntfy/<topic>` or `GET /ntfy/<topic>/publish`: headers, then the query, then
/// the body.
pub fn from_request(inbound: &Inbound<'_>) -> Result<Notification, SenderError> {
    let query = inbound.query_pairs();
    let param = |names: &[&str]| -> Option<String> {
        names
            .iter()
            .find_map(|n| inbound.header(n).map(str::to_owned))
            .or_else(|| {
                names.iter().find_map(|n| {
                    query
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.clone())
                })
            })
    };
    let title = param(&["X-Title", "Title", "t"]).unwrap_or_default();
    let body = inbound.text().unwrap_or_default().trim();
    let message = param(&["X-Message", "Message", "m"])
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| body.to_owned());
    let priority = match param(&["X-Priority", "Priority", "prio", "p"]) {
        None => 3,
        Some(p) => priority_of(&p).ok_or_else(|| {
            SenderError::Invalid(format!(
                "priority {p:?} is not one of 1 to 5, min, low, default, high, max or urgent"
            ))
        })?,
    };
    let tags = param(&["X-Tags", "Tags", "Tag", "ta"]).unwrap_or_default();
    let tags: Vec<&str> = tags.split(',').map(str::trim).collect();
    Ok(notification(&title, &message, priority, &tags))
}

/// ntfy's priority names and numbers.
fn priority_of(text: &str) -> Option<i64> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "1" | "min" => 1,
        "2" | "low" => 2,
        "" | "3" | "default" => 3,
        "4" | "high" => 4,
        "5" | "max" | "urgent" => 5,
        _ => return None,
    })
}

/// Tags ntfy shows as emoji that say how it went (`white_check_mark`, `x`, `warning`…)
/// count as words; the rest (`borgmatic`) are kept out of the reading.
fn notification(title: &str, message: &str, priority: i64, tags: &[&str]) -> Notification {
    let said_by_tags = tags.iter().find_map(|tag| match *tag {
        "white_check_mark" | "heavy_check_mark" | "ballot_box_with_check" | "tada" => {
            Some("success")
        }
        "x" | "rotating_light" | "skull" | "no_entry" | "sos" => Some("failed"),
        "warning" => Some("warning"),
        _ => None,
    });
    let title = match said_by_tags {
        Some(word) if crate::domain::Said::read(title).is_none() => {
            format!("{title} ({word})").trim().to_owned()
        }
        _ => title.to_owned(),
    };
    Notification {
        sender: KIND,
        title,
        message: message.to_owned(),
        level: Level::ntfy(priority),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventKind, RunStatus};
    use jiff::tz::TimeZone;

    #[test]
    fn borgmatics_json_publish_names_the_topic_and_the_failure() {
        let utc = TimeZone::UTC;
        let body = r#"{"topic":"backups","title":"A borgmatic FAIL event happened","message":"A borgmatic FAIL event happened","priority":3,"tags":["borgmatic"]}"#;
        let publish = from_json(&Inbound::new(&[], body.as_bytes(), &utc)).unwrap();
        assert_eq!(publish.topic, "backups");
        let e = publish.notification.into_event();
        assert_eq!((e.kind(), e.status()), (EventKind::Run, RunStatus::Failed));
        assert_eq!(e.sender(), KIND);
    }

    #[test]
    fn headers_and_query_and_priority_names() {
        let utc = TimeZone::UTC;
        let headers = vec![
            ("X-Title".to_owned(), "Nightly".to_owned()),
            ("Priority".to_owned(), "urgent".to_owned()),
        ];
        let inbound = Inbound::new(&headers, b"see the log", &utc);
        let e = from_request(&inbound).unwrap().into_event();
        assert_eq!(
            e.status(),
            RunStatus::Failed,
            "urgent and no words: a failure"
        );
        let inbound = Inbound::new(&[], b"", &utc)
            .with_query("t=Backup&m=Backup+finished&ta=white_check_mark");
        let e = from_request(&inbound).unwrap().into_event();
        assert_eq!(e.status(), RunStatus::Success);
        let bad = vec![("Priority".to_owned(), "loud".to_owned())];
        let inbound = Inbound::new(&bad, b"x", &utc);
        assert!(from_request(&inbound).is_err());
    }

    #[test]
    fn tags_that_are_emoji_of_an_outcome_count() {
        let utc = TimeZone::UTC;
        let headers = vec![("Tags".to_owned(), "backup,x".to_owned())];
        let inbound = Inbound::new(&headers, b"nightly job", &utc);
        let e = from_request(&inbound).unwrap().into_event();
        assert_eq!(e.status(), RunStatus::Failed);
    }
}

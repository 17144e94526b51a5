//! Which reader a request calls for. The URL shape decides (a report URL reads any sender's
//! body, a ping URL a Healthchecks ping…); the delivery use case calls [`Reader::read`]
//! once it knows the monitor and has checked its secret.

use super::notification::{Level, Notification};
use super::{Inbound, SenderError, gotify, healthchecks, ntfy, uptime_kuma};
use crate::domain::BackupEvent;

/// How a request's body and query are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Any sender's report, recognised by its content (`/api/webhook/…`).
    Report,
    /// A Healthchecks-style ping; the signal is the URL's last segment or `?event=`.
    Ping,
    /// Uptime Kuma's push: everything is in the query.
    Push,
    /// ntfy's publish API, the message in the body, headers or query.
    NtfyPublish,
    /// ntfy's JSON publishing, the topic and message in the body.
    NtfyJson,
    /// Gotify's message API, JSON or a form.
    Gotify,
}

/// What a request said.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub events: Vec<BackupEvent>,
    /// The body was kept but no sender reads it: why, in words.
    pub not_understood: Option<String>,
    /// The notification as sent (ntfy, Gotify): their answers echo it.
    pub echo: Option<Echo>,
}

/// The parts of a notification its sender's API answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    pub title: String,
    pub message: String,
    pub priority: Option<i64>,
}

impl Reader {
    pub fn read(self, inbound: &Inbound<'_>) -> Result<Read, SenderError> {
        let from_notification = |notification: Notification| {
            let echo = Echo {
                title: notification.title.clone(),
                message: notification.message.clone(),
                priority: match notification.level {
                    Level::Priority { value, .. } => Some(value),
                    _ => None,
                },
            };
            Read {
                events: vec![notification.into_event()],
                not_understood: None,
                echo: Some(echo),
            }
        };
        let one = |event: BackupEvent| Read {
            events: vec![event],
            not_understood: None,
            echo: None,
        };
        match self {
            Self::Report => super::parse(inbound).map(|parsed| Read {
                events: parsed.events,
                not_understood: parsed.not_understood,
                echo: None,
            }),
            Self::Ping => {
                // Home Assistant's webhook URLs are one segment: `?event=start` there.
                let signal =
                    healthchecks::Signal::parse(inbound.signal().or(inbound.query_param("event")))?;
                let rid = healthchecks::parse_rid(inbound.query_param("rid"))?;
                Ok(one(healthchecks::ping_event(signal, rid, inbound.body())))
            }
            Self::Push => uptime_kuma::push_event(inbound.query()).map(one),
            Self::NtfyPublish => ntfy::from_request(inbound).map(from_notification),
            Self::NtfyJson => ntfy::from_json(inbound).map(|p| from_notification(p.notification)),
            Self::Gotify => gotify::message(inbound).map(from_notification),
        }
    }
}

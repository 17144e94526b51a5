//! `POST|PUT /api/webhook/{id}`: any backup tool's report.

use actix_web::{HttpRequest, HttpResponse, web};
use jiff::Timestamp;

use super::{AppState, WebhookError};
use crate::domain::WebhookId;
use crate::ha;
use crate::senders::{self, Inbound};
use crate::signature;

/// Larger bodies get 413: reports are a few kilobytes, Duplicati's with logs well under this.
pub const MAX_BODY: usize = 1024 * 1024;

pub async fn receive(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    // A malformed ID gets the same answer as an unknown one.
    let id = WebhookId::parse(&id).map_err(|_| WebhookError::UnknownId)?;
    let monitor = state
        .store
        .monitor_by_webhook_id(&id)
        .await?
        .ok_or(WebhookError::UnknownId)?;
    let body = payload
        .to_bytes_limited(MAX_BODY)
        .await
        .map_err(|_| WebhookError::TooLarge { limit: MAX_BODY })?
        .map_err(|e| WebhookError::Payload(e.to_string()))?;

    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    if let Some(secret) = &monitor.secret {
        signature::verify(secrecy::ExposeSecret::expose_secret(secret), &inbound)?;
    }
    let events = senders::parse(&inbound)?;
    let count = events.len();
    let received_at = Timestamp::now();
    // The Home Assistant event of each received event is queued in the same transaction.
    let core_events = if state.publisher.is_enabled() {
        events
            .iter()
            .map(|e| {
                (
                    ha::EVENT_TYPE.to_owned(),
                    ha::event_data(&monitor, e, received_at),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    state
        .store
        .insert_events(monitor.id, received_at, events, core_events)
        .await?;
    state.publisher.monitor_changed(&monitor.key);
    tracing::info!(monitor = %monitor.key, events = count, "webhook stored");
    // Exactly 200: Kopia counts anything else, even 201 or 204, as a failed delivery.
    Ok(HttpResponse::Ok().json(Accepted {
        ok: true,
        events: count,
    }))
}

/// `{"ok":true,"events":N}`, in that order.
#[derive(serde::Serialize)]
struct Accepted {
    ok: bool,
    events: usize,
}

fn header_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

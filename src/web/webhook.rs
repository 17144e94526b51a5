//! The webhook listener's routes, all through one pipeline: find the monitor, apply its
//! rate limit, read the body, check its secret, parse, pair with a pending start, commit,
//! and only then answer. Every refusal of a known monitor is recorded for the panel.
//!
//! - `POST|PUT /api/webhook/{id}`: any sender's report, recognised by its content.
//! - `/ping/{id}[/start|/fail|/log|/{exit status}]`: Healthchecks-compatible, any method.
//! - `/api/push/{id}?status=&msg=&ping=`: Uptime-Kuma-compatible, any method.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{AppState, WebhookError};
use crate::domain::{BackupEvent, EventKind, WebhookId};
use crate::ha;
use crate::senders::{self, Inbound, healthchecks, uptime_kuma};
use crate::signature;
use crate::store::MonitorRecord;

/// Larger bodies get 413: reports are a few kilobytes, Duplicati's with logs well under this.
pub const MAX_BODY: usize = 1024 * 1024;
/// Healthchecks shows durations only below this; an older start is a run that never ended.
const MAX_PAIRED_DURATION: SignedDuration = SignedDuration::from_hours(72);

/// Per-monitor rate limits: by default bursts of 30 (a start, a log and an end arrive
/// within milliseconds), then one a second. One monitor's flood never slows another.
pub struct Throttle {
    limiter: DefaultKeyedRateLimiter<i64>,
    /// Floods are recorded as rejections at most every ten seconds per monitor.
    last_recorded: Mutex<HashMap<i64, Instant>>,
}

impl Throttle {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            last_recorded: Mutex::default(),
        }
    }

    /// `Err(seconds to wait)` when over the limit.
    fn check(&self, monitor_id: i64) -> Result<(), u64> {
        self.limiter.check_key(&monitor_id).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                + 1
        })
    }

    fn should_record(&self, monitor_id: i64) -> bool {
        let mut last = self.last_recorded.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match last.get(&monitor_id) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(10) => false,
            _ => {
                last.insert(monitor_id, now);
                true
            }
        }
    }
}

/// `POST|PUT /api/webhook/{id}`.
pub async fn receive(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let monitor = admit(&state, &req, &id).await?;
    let body = read_body(&state, &req, &monitor, payload).await?;
    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    let events = authenticate(&monitor, &inbound)
        .and_then(|()| senders::parse(&inbound).map_err(WebhookError::from))
        .map_err(|e| reject(&state, &req, &monitor, &body, e))?;
    let count = commit(&state, &monitor, events).await?;
    // Exactly 200: Kopia counts anything else, even 201 or 204, as a failed delivery.
    Ok(HttpResponse::Ok().json(Accepted {
        ok: true,
        events: count,
    }))
}

/// `/ping/{id}` and `/ping/{id}/{signal}`, any method.
pub async fn ping(
    req: HttpRequest,
    path: web::Path<PingPath>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let monitor = admit(&state, &req, &path.id).await?;
    let body = read_body(&state, &req, &monitor, payload).await?;
    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let rid = query
        .iter()
        .find(|(k, _)| k == "rid")
        .map(|(_, v)| v.as_str());
    let event = authenticate(&monitor, &inbound)
        .and_then(|()| {
            let signal = healthchecks::Signal::parse(path.signal.as_deref())?;
            let rid = healthchecks::parse_rid(rid)?;
            Ok(healthchecks::ping_event(signal, rid, &body))
        })
        .map_err(|e| reject(&state, &req, &monitor, &body, e))?;
    commit(&state, &monitor, vec![event]).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Ping-Body-Limit", healthchecks::PING_BODY_LIMIT.to_string()))
        .body("OK"))
}

#[derive(Debug, serde::Deserialize)]
pub struct PingPath {
    id: String,
    signal: Option<String>,
}

/// `/api/push/{id}?status=&msg=&ping=`, any method; answers in Uptime Kuma's JSON.
pub async fn push(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let result = async {
        let monitor = admit(&state, &req, &id).await?;
        let body = read_body(&state, &req, &monitor, payload).await?;
        let headers = header_pairs(&req);
        let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
        let event = authenticate(&monitor, &inbound)
            .and_then(|()| uptime_kuma::push_event(req.query_string()).map_err(WebhookError::from))
            .map_err(|e| reject(&state, &req, &monitor, &body, e))?;
        commit(&state, &monitor, vec![event]).await
    }
    .await;
    match result {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({ "ok": true })),
        Err(error) => {
            let mut response = error.error_response();
            let body = serde_json::json!({ "ok": false, "msg": error.to_string() }).to_string();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response.set_body(actix_web::body::BoxBody::new(body))
        }
    }
}

/// `{"ok":true,"events":N}`, in that order.
#[derive(Serialize)]
struct Accepted {
    ok: bool,
    events: usize,
}

/// Finds the monitor (malformed and unknown IDs get the same 404) and applies its limit.
async fn admit(
    state: &AppState,
    req: &HttpRequest,
    raw_id: &str,
) -> Result<MonitorRecord, WebhookError> {
    let id = WebhookId::parse(raw_id).map_err(|_| WebhookError::UnknownId)?;
    let monitor = state
        .store
        .monitor_by_webhook_id(&id)
        .await?
        .ok_or(WebhookError::UnknownId)?;
    if let Err(retry_after) = state.throttle.check(monitor.id) {
        let error = WebhookError::TooMany { retry_after };
        if state.throttle.should_record(monitor.id) {
            return Err(reject(state, req, &monitor, b"", error));
        }
        return Err(error);
    }
    Ok(monitor)
}

async fn read_body(
    state: &AppState,
    req: &HttpRequest,
    monitor: &MonitorRecord,
    payload: web::Payload,
) -> Result<web::Bytes, WebhookError> {
    match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(WebhookError::Payload(e.to_string())),
        Err(_) => Err(reject(
            state,
            req,
            monitor,
            b"",
            WebhookError::TooLarge { limit: MAX_BODY },
        )),
    }
}

fn authenticate(monitor: &MonitorRecord, inbound: &Inbound<'_>) -> Result<(), WebhookError> {
    match &monitor.secret {
        Some(secret) => Ok(signature::verify(
            secrecy::ExposeSecret::expose_secret(secret),
            inbound,
        )?),
        None => Ok(()),
    }
}

/// Records why a known monitor's request was refused (in the background) and passes the
/// error on.
fn reject(
    state: &AppState,
    req: &HttpRequest,
    monitor: &MonitorRecord,
    body: &[u8],
    error: WebhookError,
) -> WebhookError {
    let status = error.status_code().as_u16();
    let peer = req.peer_addr().map(|a| a.ip().to_canonical().to_string());
    tracing::info!(monitor = %monitor.key, status, reason = %error, "webhook refused");
    let store = state.store.clone();
    let (id, reason, head) = (
        monitor.id,
        error.to_string(),
        body[..body.len().min(2048)].to_vec(),
    );
    tokio::spawn(async move {
        if let Err(e) = store.record_rejection(id, peer, status, reason, head).await {
            tracing::warn!(error = %e, "cannot record a refused request");
        }
    });
    error
}

/// Pairs runs with the pending start (same run ID, or both without), commits the events with
/// their Home Assistant events, and has the monitor's entities recomputed.
pub(super) async fn commit(
    state: &AppState,
    monitor: &MonitorRecord,
    events: Vec<BackupEvent>,
) -> Result<usize, WebhookError> {
    let received_at = Timestamp::now();
    let events = pair_with_start(state, monitor, events, received_at).await?;
    let core_events = if state.publisher.is_enabled() {
        events
            .iter()
            .map(|e| {
                (
                    ha::EVENT_TYPE.to_owned(),
                    ha::event_data(monitor, e, received_at),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let total = events.len();
    let stored = state
        .store
        .insert_events(monitor.id, received_at, events, core_events)
        .await?;
    state.publisher.monitor_changed(&monitor.key);
    tracing::info!(monitor = %monitor.key, events = stored, duplicates = total - stored, "webhook stored");
    Ok(stored)
}

async fn pair_with_start(
    state: &AppState,
    monitor: &MonitorRecord,
    events: Vec<BackupEvent>,
    now: Timestamp,
) -> Result<Vec<BackupEvent>, WebhookError> {
    let unpaired = |e: &BackupEvent| e.kind() == EventKind::Run && e.started_at().is_none();
    if !events.iter().any(unpaired) {
        return Ok(events);
    }
    let Some(start) = state.store.pending_start(monitor.id).await? else {
        return Ok(events);
    };
    let fresh = now.duration_since(start.received_at) < MAX_PAIRED_DURATION;
    Ok(events
        .into_iter()
        .map(|event| {
            let same_run = event.run_id() == start.event.run_id()
                && (event.source().is_none() || event.source() == start.event.source());
            if fresh && unpaired(&event) && same_run {
                let finished = event.finished_at().unwrap_or(now);
                event.with_times(Some(start.received_at), Some(finished))
            } else {
                event
            }
        })
        .collect())
}

fn header_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        // Kopia puts host and path in `Subject`, which may not be ASCII (`/home/jürgen`).
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

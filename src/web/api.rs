//! The panel's JSON API (same port and guard as the pages).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::views::{EventJson, MonitorJson};
use super::{ApiError, AppState};
use crate::domain::Monitor;
use crate::service::{MonitorFields, MonitorView};

pub async fn list_monitors(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let out: Vec<MonitorJson> = state
        .service
        .all_monitors()
        .await?
        .iter()
        .map(|view| MonitorJson::new(&state, &req, view))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

pub async fn create_monitor(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let fields: MonitorFields = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not a valid monitor ({e}); send {{\"name\": \"...\"}}"
        ))
    })?;
    let new = fields.parse(&state.settings.options.timezone_name)?;
    let monitor = state.service.create_monitor(new).await?;
    Ok(HttpResponse::Created().json(monitor_json(&state, &req, &monitor).await?))
}

pub async fn get_monitor(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    Ok(HttpResponse::Ok().json(monitor_json(&state, &req, &monitor).await?))
}

pub async fn update_monitor(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    let fields: MonitorFields = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not a valid edit ({e}); send any of name, history_limit, secret, schedule, grace, no_success_after, shrink_percent, shrink_runs, unusual_durations, maintenance, not_verified_after"
        ))
    })?;
    let edit = fields.parse(&state.settings.options.timezone_name)?;
    let updated = state.service.update_monitor(&monitor, edit).await?;
    Ok(HttpResponse::Ok().json(monitor_json(&state, &req, &updated).await?))
}

/// Makes the schedule the history shows (`learned_schedule`) the monitor's schedule.
pub async fn apply_learned_schedule(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    let updated = state.service.apply_learned_schedule(&monitor).await?;
    Ok(HttpResponse::Ok().json(monitor_json(&state, &req, &updated).await?))
}

pub async fn delete_monitor(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    state.service.delete_monitor(&monitor).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

pub async fn list_events(
    state: web::Data<AppState>,
    key: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    let limit = query.limit.unwrap_or(50);
    let page = state.service.history(&monitor, query.before, limit).await?;
    let events: Vec<EventJson<'_>> = page.events.iter().map(EventJson::from).collect();
    Ok(HttpResponse::Ok().json(events))
}

/// Refused requests, newest first: why a backup tool's webhook "does not work".
pub async fn list_rejections(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    Ok(HttpResponse::Ok().json(state.service.rejections(&monitor, 100).await?))
}

#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    since: Option<u64>,
}

/// `GET /api/changes?since=<n>`: answers `{"version": m}` as soon as something the panel
/// shows changed after version `n` (a report, an edit), or after 25 s with the same version.
/// Open pages wait on it and update themselves: a long poll, no framework.
pub async fn changes(state: web::Data<AppState>, query: web::Query<ChangesQuery>) -> HttpResponse {
    let version = match query.since {
        Some(since) => {
            state
                .service
                .next_change(since, std::time::Duration::from_secs(25))
                .await
        }
        None => {
            state
                .service
                .next_change(u64::MAX, std::time::Duration::ZERO)
                .await
        }
    };
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "version": version }))
}

#[derive(Debug, Deserialize)]
pub struct RetireBody {
    /// `null` for the runs that name no source.
    source: Option<String>,
}

/// Forgets a source that is no longer backed up (its history stays).
pub async fn retire_source(
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    let body: RetireBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid ({e}); send {{\"source\": \"/the/path\"}}"
        ))
    })?;
    if !state
        .service
        .retire_source(&monitor, body.source.as_deref())
        .await?
    {
        return Err(ApiError::NotFound(
            "this monitor has no such source; see \"sources\" in GET /api/monitors/<key>".into(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `{"for": "2h"}` or `{"until": "2026-12-24T18:00:00Z"}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub until: Option<String>,
}

impl PauseBody {
    /// When the pause ends.
    pub fn until(&self) -> Result<jiff::Timestamp, ApiError> {
        match (&self.for_, &self.until) {
            (Some(period), None) => {
                let period = crate::domain::parse_period(period, "for")?;
                Ok(jiff::Timestamp::now() + period)
            }
            (None, Some(until)) => until.trim().parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "until {until:?} is not a time: use RFC 3339 with a zone, e.g. 2026-12-24T18:00:00Z"
                ))
            }),
            _ => Err(ApiError::BadRequest(
                "send {\"for\": \"2h\"} or {\"until\": \"2026-12-24T18:00:00Z\"}".into(),
            )),
        }
    }
}

/// Pauses a monitor: nothing is overdue, a problem or notified until it resumes by itself.
pub async fn pause_monitor(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    let body: PauseBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid ({e}); send {{\"for\": \"2h\"}} or {{\"until\": \"2026-12-24T18:00:00Z\"}}"
        ))
    })?;
    let paused = state
        .service
        .pause_monitor(&monitor, Some(body.until()?))
        .await?;
    Ok(HttpResponse::Ok().json(monitor_json(&state, &req, &paused).await?))
}

/// Ends a pause now (a maintenance window still opens when its time comes).
pub async fn resume_monitor(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    let resumed = state.service.pause_monitor(&monitor, None).await?;
    Ok(HttpResponse::Ok().json(monitor_json(&state, &req, &resumed).await?))
}

/// The add-on at a glance: version, Home Assistant updates, monitors by status.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let monitors = state.service.all_monitors().await?;
    let ping_key = state.service.ping_key().await?;
    let integration_key = state.service.integration_key().await?;
    let mut by_status: std::collections::BTreeMap<&'static str, usize> =
        std::collections::BTreeMap::new();
    for view in &monitors {
        *by_status.entry(view.summary.status.as_str()).or_default() += 1;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "home_assistant": {
            "enabled": state.service.pushes_enabled(),
            "entities": state.service.entities_status(),
            "pending_monitors": monitors.iter().filter(|v| v.push.pending).count(),
            "errors": monitors.iter().filter_map(|v| v.push.last_error.clone()).collect::<Vec<_>>(),
        },
        "webhook_base_url": state.webhook_base(&req),
        "ping_key": ping_key.as_str(),
        "integration_key": integration_key.as_str(),
        "integration": {
            "connected": state.service.integration_connected(),
            "home_assistant": state.service.home_assistant_urls(),
        },
        "unknown_requests": state.service.recent_unknown_requests(),
        "slug_urls": {
            "ping": format!("{}/ping/{}/<slug>?create=1", state.webhook_base(&req), ping_key.as_str()),
            "webhook": format!("{}/api/webhook/{}/<slug>?create=1", state.webhook_base(&req), ping_key.as_str()),
        },
        "webhook_port_disabled": state.webhook_port_disabled(),
        "timezone": state.settings.options.timezone_name,
        "monitors": monitors.len(),
        "by_status": by_status,
        "heartbeat": state.service.heartbeat_status(),
    })))
}

pub(super) async fn find(state: &AppState, key: &str) -> Result<Monitor, ApiError> {
    Ok(state.service.monitor(key).await?)
}

async fn monitor_json(
    state: &AppState,
    req: &HttpRequest,
    monitor: &Monitor,
) -> Result<MonitorJson, ApiError> {
    let view: MonitorView = state
        .service
        .view(monitor.clone(), monitor.history_limit.get())
        .await?;
    Ok(MonitorJson::new(state, req, &view))
}

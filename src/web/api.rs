//! The panel's JSON API (same port and guard as the pages).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::views::{EventJson, MonitorJson};
use super::{ApiError, AppState, MonitorInput, MonitorPatch};
use crate::domain::MonitorKey;
use crate::status::MonitorSummary;
use crate::store::MonitorRecord;

pub async fn list_monitors(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let out: Vec<MonitorJson> = state
        .all_monitors()
        .await?
        .into_iter()
        .map(|(m, summary, push)| MonitorJson::new(&state, &req, &m, &summary, push))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

pub async fn create_monitor(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: MonitorInput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not a valid monitor ({e}); send {{\"name\": \"...\"}}"
        ))
    })?;
    let monitor = state.create_monitor(input).await?;
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
    let patch: MonitorPatch = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not a valid edit ({e}); send any of name, history_limit, secret, schedule, grace"
        ))
    })?;
    let updated = state.update_monitor(&monitor, patch).await?;
    Ok(HttpResponse::Ok().json(monitor_json(&state, &req, &updated).await?))
}

pub async fn delete_monitor(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    state.delete_monitor(&monitor).await?;
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
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".into(),
        ));
    }
    let page = state.store.events(monitor.id, query.before, limit).await?;
    let events: Vec<EventJson<'_>> = page.events.iter().map(EventJson::from).collect();
    Ok(HttpResponse::Ok().json(events))
}

/// Refused requests, newest first: why a backup tool's webhook "does not work".
pub async fn list_rejections(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let monitor = find(&state, &key).await?;
    Ok(HttpResponse::Ok().json(state.store.rejections(monitor.id, 100).await?))
}

/// The add-on at a glance: version, Home Assistant updates, monitors by status.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let monitors = state.all_monitors().await?;
    let mut by_status: std::collections::BTreeMap<&'static str, usize> =
        std::collections::BTreeMap::new();
    for (_, summary, _) in &monitors {
        *by_status.entry(summary.status.as_str()).or_default() += 1;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "home_assistant": {
            "enabled": state.publisher.is_enabled(),
            "pending_monitors": monitors.iter().filter(|(_, _, p)| p.pending).count(),
            "errors": monitors.iter().filter_map(|(_, _, p)| p.last_error.clone()).collect::<Vec<_>>(),
        },
        "webhook_base_url": state.webhook_base(&req),
        "webhook_port_disabled": state.webhook_port_disabled(),
        "timezone": state.settings.options.timezone_name,
        "monitors": monitors.len(),
        "by_status": by_status,
    })))
}

pub(super) async fn find(state: &AppState, key: &str) -> Result<MonitorRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no monitor is called {key:?}"));
    let key = MonitorKey::parse(key).map_err(|_| not_found())?;
    state
        .store
        .monitor_by_key(&key)
        .await?
        .ok_or_else(not_found)
}

async fn monitor_json(
    state: &AppState,
    req: &HttpRequest,
    monitor: &MonitorRecord,
) -> Result<MonitorJson, ApiError> {
    let runs = state
        .store
        .monitor_runs(monitor.id, monitor.history_limit.get())
        .await?;
    let push = state.store.push_status(monitor.id).await?;
    Ok(MonitorJson::new(
        state,
        req,
        monitor,
        &MonitorSummary::of(monitor, runs),
        push,
    ))
}

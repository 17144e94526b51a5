//! The panel's pages.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use jiff::Timestamp;
use serde::Deserialize;

use super::views::{display_time, human_duration, human_size, relative_time};
use super::{ApiError, AppState, Layout, MonitorInput, PageError};
use crate::domain::{EventKind, HistoryLimit, MonitorStatus, StoredEvent};
use crate::ha::entity_ids;
use crate::status::MonitorSummary;
use crate::store::PushStatus;

const HISTORY_PAGE: usize = 50;

fn html(page: &impl Template, layout: &Layout) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(|e| PageError::new(layout, e))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// One line of the dashboard.
struct MonitorRow {
    key: String,
    name: String,
    status: &'static str,
    last_run: String,
    size: String,
    duration: String,
    next_expected: String,
    push: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    layout: Layout,
    rows: Vec<MonitorRow>,
}

pub async fn dashboard(
    layout: Layout,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let now = Timestamp::now();
    let monitors = state
        .store
        .monitors()
        .await
        .map_err(|e| PageError::new(&layout, e))?;
    let pushes = state
        .store
        .push_statuses()
        .await
        .map_err(|e| PageError::new(&layout, e))?;
    let mut rows = Vec::with_capacity(monitors.len());
    for monitor in monitors {
        let runs = state
            .store
            .monitor_runs(monitor.id, 1)
            .await
            .map_err(|e| PageError::new(&layout, e))?;
        let summary = MonitorSummary::of(&monitor, runs);
        // Size and duration of the newest run, whatever its outcome.
        let event = summary.recent.first().map(|r| &r.event);
        rows.push(MonitorRow {
            key: monitor.key.to_string(),
            name: monitor.name.as_str().to_owned(),
            status: summary.status.as_str(),
            last_run: summary
                .last_seen
                .map_or_else(|| "never".into(), |t| relative_time(t, now)),
            size: event
                .and_then(|e| e.size_bytes())
                .map_or_else(String::new, human_size),
            duration: event
                .and_then(|e| e.duration_ms())
                .map_or_else(String::new, human_duration),
            next_expected: summary
                .next_expected
                .map_or_else(String::new, |t| relative_time(t, now)),
            push: push_text(
                state.publisher.is_enabled(),
                &pushes.get(&monitor.id).cloned().unwrap_or_default(),
                now,
            ),
        });
    }
    html(
        &Dashboard {
            layout: layout.clone(),
            rows,
        },
        &layout,
    )
}

fn push_text(enabled: bool, push: &PushStatus, now: Timestamp) -> String {
    if !enabled {
        return "off".into();
    }
    match (&push.last_error, push.last_success_at) {
        (Some(error), _) => format!("retrying: {error}"),
        (None, _) if push.pending => "pending".into(),
        (None, Some(at)) => format!("sent {}", relative_time(at, now)),
        (None, None) => "pending".into(),
    }
}

#[derive(Template)]
#[template(path = "monitor_new.html")]
struct NewMonitorForm {
    layout: Layout,
    error: Option<String>,
    name: String,
    webhook_id: String,
    history_limit: String,
    schedule: String,
    grace: String,
    timezone: String,
    min_limit: i64,
    max_limit: i64,
}

impl NewMonitorForm {
    fn new(layout: Layout, state: &AppState) -> Self {
        Self {
            layout,
            error: None,
            name: String::new(),
            webhook_id: String::new(),
            history_limit: state.settings.options.history_limit.get().to_string(),
            schedule: String::new(),
            grace: String::new(),
            timezone: state.settings.options.timezone_name.clone(),
            min_limit: HistoryLimit::MIN,
            max_limit: HistoryLimit::MAX,
        }
    }
}

pub async fn new_monitor_form(
    layout: Layout,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    html(&NewMonitorForm::new(layout.clone(), &state), &layout)
}

#[derive(Debug, Default, Deserialize)]
struct MonitorForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    webhook_id: String,
    #[serde(default)]
    history_limit: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    grace: String,
}

/// The form's POST: on success, go to the new monitor's page (under the ingress prefix);
/// on a mistake, show the form again with what was typed and what was wrong.
pub async fn create_monitor(
    layout: Layout,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: MonitorForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let history_limit = match form.history_limit.trim() {
        "" => None,
        text => match text.parse() {
            Ok(n) => Some(n),
            Err(_) => Some(i64::MIN),
        },
    };
    let input = MonitorInput {
        name: form.name.clone(),
        webhook_id: Some(form.webhook_id.clone()),
        history_limit,
        secret: Some(form.secret.clone()),
        schedule: Some(serde_json::Value::String(form.schedule.clone())),
        grace: Some(form.grace.clone()),
    };
    match state.create_monitor(input).await {
        Ok(monitor) => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("{}monitors/{}", layout.base_href, monitor.key),
            ))
            .finish()),
        Err(ApiError::BadRequest(reason) | ApiError::Conflict(reason)) => {
            let mut page = NewMonitorForm::new(layout.clone(), &state);
            page.error = Some(reason);
            page.name = form.name;
            page.webhook_id = form.webhook_id;
            page.history_limit = form.history_limit;
            page.schedule = form.schedule;
            page.grace = form.grace;
            let body = page.render().map_err(|e| PageError::new(&layout, e))?;
            Ok(HttpResponse::BadRequest()
                .content_type("text/html; charset=utf-8")
                .body(body))
        }
        Err(other) => Err(PageError::new(&layout, other)),
    }
}

struct RejectionRow {
    at: String,
    peer: String,
    status: u16,
    reason: String,
    head: String,
}

struct HistoryRow {
    received: String,
    received_iso: String,
    kind: &'static str,
    status: &'static str,
    source: String,
    size: String,
    duration: String,
    files: String,
    error: String,
}

impl From<&StoredEvent> for HistoryRow {
    fn from(stored: &StoredEvent) -> Self {
        let e = &stored.event;
        let status = match e.kind() {
            EventKind::Run | EventKind::Test => e.status().as_str(),
            _ => "info",
        };
        Self {
            received: display_time(stored.received_at),
            received_iso: stored.received_at.to_string(),
            kind: e.kind().as_str(),
            status,
            source: match (e.source(), e.host()) {
                (Some(source), Some(host)) => format!("{source} ({host})"),
                (Some(source), None) => source.to_owned(),
                (None, Some(host)) => host.to_owned(),
                (None, None) => String::new(),
            },
            size: e.size_bytes().map_or_else(String::new, human_size),
            duration: e.duration_ms().map_or_else(String::new, human_duration),
            files: e.files().map_or_else(String::new, |f| f.to_string()),
            error: e.error().unwrap_or("").to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct MonitorPage {
    layout: Layout,
    key: String,
    name: String,
    status: &'static str,
    problem: bool,
    headline_error: String,
    last_seen: String,
    expected: String,
    webhook_url: String,
    has_secret: bool,
    from_options: bool,
    entities: Vec<String>,
    history: Vec<HistoryRow>,
    rejections: Vec<RejectionRow>,
    older: Option<i64>,
    is_first_page: bool,
    push: String,
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
}

pub async fn monitor_page(
    req: HttpRequest,
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, PageError> {
    let fail = |e: ApiError| PageError::new(&layout, e);
    let monitor = super::api::find(&state, &key).await.map_err(fail)?;
    let runs = state
        .store
        .monitor_runs(monitor.id, monitor.history_limit.get())
        .await
        .map_err(|e| PageError::new(&layout, e))?;
    let summary = MonitorSummary::of(&monitor, runs);
    let page = state
        .store
        .events(monitor.id, query.before, HISTORY_PAGE)
        .await
        .map_err(|e| PageError::new(&layout, e))?;
    let now = Timestamp::now();
    let push = state
        .store
        .push_status(monitor.id)
        .await
        .map_err(|e| PageError::new(&layout, e))?;
    let rejections = state
        .store
        .rejections(monitor.id, 20)
        .await
        .map_err(|e| PageError::new(&layout, e))?
        .into_iter()
        .map(|r| RejectionRow {
            at: relative_time(r.at, now),
            peer: r.peer.unwrap_or_default(),
            status: r.status,
            reason: r.reason,
            head: r.head,
        })
        .collect();
    let view = MonitorPage {
        layout: layout.clone(),
        key: monitor.key.to_string(),
        name: monitor.name.as_str().to_owned(),
        status: summary.status.as_str(),
        problem: matches!(
            summary.status,
            MonitorStatus::Failed | MonitorStatus::Overdue | MonitorStatus::Warning
        ),
        headline_error: summary
            .headline
            .as_ref()
            .and_then(|h| h.event.error())
            .unwrap_or("")
            .to_owned(),
        last_seen: summary
            .last_seen
            .map_or_else(|| "nothing received yet".into(), |t| relative_time(t, now)),
        expected: match (&monitor.schedule, summary.next_expected) {
            (Some(schedule), Some(next)) => {
                format!(
                    "{} ({schedule}, grace {})",
                    relative_time(next, now),
                    monitor.grace
                )
            }
            _ => "no schedule".into(),
        },
        webhook_url: state.webhook_url(&req, &monitor.webhook_id),
        has_secret: monitor.secret.is_some(),
        from_options: monitor.origin == crate::store::Origin::Options,
        entities: entity_ids(&monitor.key),
        history: page.events.iter().map(HistoryRow::from).collect(),
        rejections,
        older: page.next_before,
        is_first_page: query.before.is_none(),
        push: push_text(state.publisher.is_enabled(), &push, now),
    };
    html(&view, &layout)
}

pub async fn not_found(layout: Layout) -> Result<HttpResponse, PageError> {
    Err(PageError::new(
        &layout,
        ApiError::NotFound("there is no such page in this panel".into()),
    ))
}

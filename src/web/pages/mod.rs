//! The panel's pages: the dashboard here, a monitor's page in `monitor.rs`, and the forms
//! that change monitors (create, edit, rotate, delete, test) in `forms.rs`.

mod forms;
mod monitor;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use jiff::Timestamp;

pub use forms::{
    apply_learned_schedule, confirm_delete, confirm_rotate, confirm_rotate_integration_key,
    confirm_rotate_ping_key, create_monitor, delete_monitor, edit_form, new_monitor_form,
    pause_monitor, retire_source, rotate_integration_key, rotate_ping_key, rotate_webhook_id,
    save_edit, send_test_event,
};
pub use monitor::monitor_page;

use super::views::{human_duration, human_size, relative_time};
use super::{ApiError, AppState, Layout, PageError};
use crate::service::PushStatus;

fn html(page: &impl Template, layout: &Layout) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(|e| PageError::new(layout, e))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A redirect that stays under the ingress prefix.
fn see_other(layout: &Layout, path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{}{path}", layout.base_href)))
        .finish()
}

/// One line of the dashboard.
struct MonitorRow {
    key: String,
    /// Created by its first report and not opened yet.
    unseen: bool,
    name: String,
    status: &'static str,
    /// `42 %` while a backup reports how far it is.
    progress: String,
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
    /// The `problem_notifications` option.
    notifications_on: bool,
    blueprint_import_url: &'static str,
    slug_webhook_url: String,
    slug_ping_url: String,
    unknown: Vec<UnknownRow>,
    integration_connected: bool,
    /// Home Assistant's external (or remote) URL, as the integration said.
    integration_base: String,
    /// Where the integration reaches the webhook listener, and its key.
    integration_address: String,
    integration_key: String,
    /// The heartbeat to a URL outside, in words; `None`: no `heartbeat_url`.
    heartbeat: Option<HeartbeatRow>,
}

/// The outbound heartbeat as the dashboard says it.
struct HeartbeatRow {
    /// `Healthchecks (https://hc-ping.com/…abcd), every 5 min`.
    target: String,
    /// `ok 2 min ago`, `problem 10 s ago: NAS: failed (…)`, `not sent yet`.
    last: String,
    /// The URL did not take the last ping: why.
    error: String,
}

/// A request to a webhook ID no monitor has.
struct UnknownRow {
    at: String,
    peer: String,
    id: String,
    did_you_mean: String,
}

pub async fn dashboard(
    req: actix_web::HttpRequest,
    layout: Layout,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let fail = |e| PageError::new(&layout, e);
    let now = Timestamp::now();
    let monitors = state.service.all_monitors().await.map_err(fail)?;
    let mut rows = Vec::with_capacity(monitors.len());
    for view in monitors {
        let (monitor, summary, push) = (view.monitor, view.summary, view.push);
        rows.push(MonitorRow {
            key: monitor.key.to_string(),
            unseen: monitor.unseen,
            name: monitor.name.as_str().to_owned(),
            status: summary.status.as_str(),
            progress: summary
                .progress
                .as_ref()
                .and_then(super::views::progress_percent)
                .unwrap_or_default(),
            last_run: summary
                .last_seen
                .map_or_else(|| "never".into(), |t| relative_time(t, now)),
            // The last good backup's figures: a failed run's 0 B is not the backup's size.
            size: summary
                .last_good(|e| e.size_bytes())
                .map_or_else(String::new, human_size),
            duration: summary
                .last_good(|e| e.duration_ms())
                .map_or_else(String::new, human_duration),
            next_expected: summary
                .next_expected
                .map_or_else(String::new, |t| relative_time(t, now)),
            push: push_text(&state.service.entities_status(), &push, now),
        });
    }
    let ping_key = state.service.ping_key().await.map_err(fail)?;
    let base = state.webhook_base(&req);
    let home_assistant = state.service.home_assistant_urls();
    let integration_key = state.service.integration_key().await.map_err(fail)?;
    html(
        &Dashboard {
            layout: layout.clone(),
            rows,
            notifications_on: state.settings.options.problem_notifications,
            blueprint_import_url: BLUEPRINT_IMPORT_URL,
            slug_webhook_url: format!("{base}/api/webhook/{}/<job>?create=1", ping_key.as_str()),
            slug_ping_url: format!("{base}/ping/{}/<job>?create=1", ping_key.as_str()),
            unknown: state
                .service
                .recent_unknown_requests()
                .into_iter()
                .map(|u| UnknownRow {
                    at: relative_time(u.at, now),
                    peer: u.peer.unwrap_or_default(),
                    id: u.id,
                    did_you_mean: u.did_you_mean.unwrap_or_default(),
                })
                .collect(),
            integration_connected: home_assistant.is_some(),
            integration_base: home_assistant
                .and_then(|urls| urls.external.or(urls.cloud))
                .unwrap_or_default(),
            integration_address: base,
            integration_key: integration_key.as_str().to_owned(),
            heartbeat: state
                .service
                .heartbeat_status()
                .map(|h| heartbeat_row(h, now)),
        },
        &layout,
    )
}

fn heartbeat_row(status: crate::service::HeartbeatStatus, now: Timestamp) -> HeartbeatRow {
    let last = status.last.as_ref();
    HeartbeatRow {
        target: format!(
            "{} ({}), every {} min",
            status.kind.display_name(),
            status.url,
            status.every_minutes
        ),
        last: last.map_or_else(
            || "not sent yet".to_owned(),
            |sent| match &sent.reason {
                Some(reason) => format!("“problem” {}: {reason}", relative_time(sent.at, now)),
                None => format!("“all fine” {}", relative_time(sent.at, now)),
            },
        ),
        error: last.and_then(|sent| sent.error.clone()).unwrap_or_default(),
    }
}

/// my.home-assistant.io's import dialog for the repository's blueprint.
const BLUEPRINT_IMPORT_URL: &str = "https://my.home-assistant.io/redirect/blueprint_import/?blueprint_url=https%3A%2F%2Fgithub.com%2Fkopia-webhook-status%2Fkopia-webhook%2Fblob%2Fmain%2Fblueprints%2Fautomation%2Fkopia_webhook%2Fbackup_problem.yaml";

/// Home Assistant delivery in a few words.
fn push_text(
    entities: &crate::service::publishing::EntitiesStatus,
    push: &PushStatus,
    now: Timestamp,
) -> String {
    if entities.path == crate::ha::catalogue::EntitiesPath::Off {
        return "off".into();
    }
    if let Some(link) = &entities.mqtt {
        return match (&link.error, link.connected) {
            (_, true) => "MQTT: published".into(),
            (Some(error), false) => format!("MQTT: {error}"),
            (None, false) => "MQTT: connecting".into(),
        };
    }
    match (&push.last_error, push.last_success_at) {
        (Some(error), _) => format!("retrying: {error}"),
        (None, _) if push.pending => "pending".into(),
        (None, Some(at)) => format!("sent {}", relative_time(at, now)),
        (None, None) => "pending".into(),
    }
}

pub async fn not_found(layout: Layout) -> Result<HttpResponse, PageError> {
    Err(PageError::new(
        &layout,
        ApiError::NotFound("there is no such page in this panel".into()),
    ))
}

//! A monitor's page: its status, the URL to paste with a guide per backup tool, charts,
//! history, refused requests and entities.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use jiff::Timestamp;
use serde::Deserialize;

use super::{html, push_text};
use crate::domain::MonitorSummary;
use crate::domain::Origin;
use crate::domain::{EventKind, MonitorStatus, StoredEvent};
use crate::service::MonitorView;
use crate::web::charts::{self, Chart, line_chart};
use crate::web::views::{display_time, human_duration, human_size, relative_time};
use crate::web::{AppState, Layout, PageError, api};

const HISTORY_PAGE: usize = 50;
/// Runs drawn in the size and duration charts.
const CHART_RUNS: usize = 30;

struct HistoryRow {
    received: String,
    received_iso: String,
    kind: &'static str,
    status: &'static str,
    sender: &'static str,
    source: String,
    size: String,
    duration: String,
    files: String,
    error: String,
    body: String,
}

impl HistoryRow {
    fn new(stored: &StoredEvent, zone: &jiff::tz::TimeZone) -> Self {
        let e = &stored.event;
        let status = match e.kind() {
            EventKind::Run | EventKind::Test | EventKind::Check => e.status().as_str(),
            EventKind::Start => "running",
            _ => "info",
        };
        Self {
            received: display_time(stored.received_at, zone),
            received_iso: stored.received_at.to_string(),
            kind: e.kind().as_str(),
            status,
            sender: e.sender().as_str(),
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
            body: stored.body_head.clone().unwrap_or_default(),
        }
    }
}

struct RejectionRow {
    at: String,
    peer: String,
    status: u16,
    reason: String,
    head: String,
}

/// One source of the monitor (a path, a job): how its last run went, its last good backup.
struct SourceRow {
    /// Empty for runs that name no source.
    source: String,
    status: &'static str,
    last_run: String,
    last_success: String,
    size: String,
    error: String,
}

impl SourceRow {
    fn new(latest: &StoredEvent, summary: &MonitorSummary, now: Timestamp) -> Self {
        let e = &latest.event;
        let success = summary.last_success_of(e.source());
        Self {
            source: e.source().unwrap_or("").to_owned(),
            status: MonitorStatus::worst_of([e.status()]).as_str(),
            last_run: relative_time(latest.ended_at(), now),
            last_success: success
                .map_or_else(|| "never".into(), |s| relative_time(s.ended_at(), now)),
            size: success
                .and_then(|s| s.event.size_bytes())
                .map_or_else(String::new, human_size),
            error: e.error().unwrap_or("").to_owned(),
        }
    }
}

fn capitalised(text: String) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// The URLs a user pastes into backup tools, all for this monitor.
struct Urls {
    webhook: String,
    ping: String,
    push: String,
    /// A URL with the ping key that creates a monitor per machine or job.
    slug_webhook: String,
    /// The webhook port's base (`http://192.168.1.10:8098`): Gotify's server URL.
    base: String,
    /// The webhook ID: ntfy's topic, Gotify's application token.
    id: String,
    /// Apprise's `json://host:port/api/webhook/<id>`.
    apprise: String,
    /// Shoutrrr's `generic+http://host:port/api/webhook/<id>?template=json`.
    shoutrrr: String,
    /// ntfy's server URL for borgmatic (`…/ntfy`).
    ntfy_server: String,
}

impl Urls {
    fn new(base: &str, id: &str, slug_webhook: String) -> Self {
        let webhook = format!("{base}/api/webhook/{id}");
        // Apprise and Shoutrrr name the scheme themselves: `json://` (`jsons://` for
        // HTTPS), `generic+http://` (`generic://` is HTTPS).
        let (secure, host_path) = match webhook.split_once("://") {
            Some((scheme, rest)) => (scheme == "https", rest.to_owned()),
            None => (false, webhook.clone()),
        };
        Self {
            ping: format!("{base}/ping/{id}"),
            push: format!("{base}/api/push/{id}"),
            apprise: format!("{}://{host_path}", if secure { "jsons" } else { "json" }),
            shoutrrr: format!(
                "{}://{host_path}?template=json",
                if secure { "generic" } else { "generic+http" }
            ),
            ntfy_server: format!("{base}/ntfy"),
            base: base.to_owned(),
            id: id.to_owned(),
            slug_webhook,
            webhook,
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
    sources: Vec<SourceRow>,
    last_seen: String,
    /// "Verified: 2 days ago" where checks arrive; empty otherwise.
    verified: String,
    expected: String,
    push: String,
    urls: Urls,
    /// Home Assistant's own URL for this monitor (through the companion integration), or
    /// empty; `integration` says whether the integration is connected.
    anywhere: String,
    /// Its Home Assistant Cloud webhook, or empty.
    cloud_webhook: String,
    integration: bool,
    /// Nothing received yet: the set-up guide is what the user came for.
    waiting: bool,
    port_disabled: bool,
    has_secret: bool,
    read_only: bool,
    entities: Vec<String>,
    size_chart: Option<Chart>,
    duration_chart: Option<Chart>,
    chart_width: f64,
    chart_height: f64,
    history: Vec<HistoryRow>,
    rejections: Vec<RejectionRow>,
    older: Option<i64>,
    is_first_page: bool,
    notice: Option<&'static str>,
    suggestion: Option<Suggestion>,
    /// The problems looked for beyond failures, in words.
    alerts: String,
    /// While a backup reports how far it is: what it says, and the fraction for a bar.
    progress: Option<(String, f64)>,
    /// "Paused until Sat 6 Dec 14:00 (in 2 hours)"; empty when not paused.
    paused: String,
    /// Paused by hand (a window cannot be resumed early).
    resumable: bool,
}

/// A schedule learned from the history, offered to a monitor without one.
struct Suggestion {
    /// "daily around 03:00, grace 1h".
    text: String,
    /// As the options' `schedule` and `grace` take it.
    schedule: String,
    grace: String,
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    /// What a form just did; only these fixed messages are ever shown.
    notice: Option<String>,
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "rotated" => Some(
            "The webhook URL changed: give every backup tool that used the old one the new URL below.",
        ),
        "test" => Some("A test event was stored and sent to Home Assistant."),
        "test-stored" => Some(
            "A test event was stored; it was not sent to Home Assistant (pushes are off: no Supervisor token and no KOPIA_WEBHOOK_CORE_URL).",
        ),
        "retired" => Some("That source no longer counts towards the status; its history stays."),
        "paused" => {
            Some("Paused: nothing is overdue, a problem or notified until it resumes by itself.")
        }
        "resumed" => Some("Resumed: the monitor is watched again."),
        "scheduled" => Some(
            "The schedule is set: the monitor turns overdue when a run is later than its grace period. Change it with Edit.",
        ),
        _ => None,
    }
}

/// The requests refused lately, newest first, as the page lists them.
async fn rejection_rows(
    state: &AppState,
    monitor: &crate::domain::Monitor,
    now: Timestamp,
) -> Result<Vec<RejectionRow>, crate::service::ServiceError> {
    Ok(state
        .service
        .rejections(monitor, 20)
        .await?
        .into_iter()
        .map(|r| RejectionRow {
            at: relative_time(r.at, now),
            peer: r.peer.unwrap_or_default(),
            status: r.status,
            reason: r.reason,
            head: r.head,
        })
        .collect())
}

pub async fn monitor_page(
    req: HttpRequest,
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, PageError> {
    let fail = |e| PageError::new(&layout, e);
    let monitor = api::find(&state, &key).await.map_err(layout.fail())?;
    state.service.mark_seen(&monitor).await.map_err(fail)?;
    let recent = CHART_RUNS.max(monitor.history_limit.get());
    let MonitorView {
        monitor,
        summary,
        push,
    } = state.service.view(monitor, recent).await.map_err(fail)?;
    let page = state
        .service
        .history(&monitor, query.before, HISTORY_PAGE)
        .await
        .map_err(fail)?;
    let now = Timestamp::now();
    let entities = state.service.entities_status();
    let rejections = rejection_rows(&state, &monitor, now).await.map_err(fail)?;
    let base = state.webhook_base(&req);
    let (anywhere, cloud_webhook) = state.service.outside_urls(&monitor.webhook_id);
    let (anywhere, cloud_webhook) = (
        anywhere.unwrap_or_default(),
        cloud_webhook.unwrap_or_default(),
    );
    let id = monitor.webhook_id.as_str();
    let zone = &state.settings.options.timezone;
    let (size_chart, duration_chart) = charts_of(&summary.recent, zone);
    let view = MonitorPage {
        layout: layout.clone(),
        key: monitor.key.to_string(),
        name: monitor.name.as_str().to_owned(),
        status: summary.status.as_str(),
        problem: matches!(
            summary.status,
            MonitorStatus::Failed | MonitorStatus::Overdue | MonitorStatus::Warning
        ),
        headline_error: summary.reason().map(capitalised).unwrap_or_default(),
        sources: summary
            .sources
            .iter()
            .map(|e| SourceRow::new(e, &summary, now))
            .collect(),
        last_seen: summary
            .last_seen
            .map_or_else(|| "nothing received yet".into(), |t| relative_time(t, now)),
        verified: verified_text(&summary, now),
        expected: match (&monitor.schedule, summary.next_expected, &summary.rhythm) {
            (Some(schedule), Some(next), _) => format!(
                "{} ({schedule}, grace {})",
                relative_time(next, now),
                monitor.grace
            ),
            (None, _, Some(rhythm)) => format!("no schedule (runs look {rhythm})"),
            _ => "no schedule".into(),
        },
        suggestion: summary.rhythm.as_ref().map(|rhythm| {
            let schedule = rhythm.schedule(&state.settings.options.timezone_name);
            Suggestion {
                text: rhythm.to_string(),
                schedule: super::forms::schedule_text(&schedule),
                grace: rhythm.grace().to_string(),
            }
        }),
        alerts: alerts_text(&monitor, &summary),
        progress: summary.progress.as_ref().map(|p| {
            let mut text = crate::web::views::progress_text(p);
            text.push_str(&format!(
                " (reported {})",
                relative_time(p.reported_at, now)
            ));
            (text, p.fraction.unwrap_or(0.0))
        }),
        push: push_text(&entities, &push, now),
        urls: Urls::new(
            &base,
            id,
            format!(
                "{base}/api/webhook/{}/<machine>?create=1",
                state.service.ping_key().await.map_err(fail)?.as_str()
            ),
        ),
        anywhere,
        cloud_webhook,
        integration: state.service.integration_connected(),
        waiting: summary.last_seen.is_none() && page.events.is_empty(),
        port_disabled: state.webhook_port_disabled(),
        has_secret: monitor.secret.is_some(),
        read_only: monitor.origin == Origin::Options,
        entities: crate::ha::catalogue::entity_ids_on(entities.path, &monitor.key, &summary),
        size_chart,
        duration_chart,
        chart_width: charts::WIDTH,
        chart_height: charts::HEIGHT,
        history: page
            .events
            .iter()
            .map(|e| HistoryRow::new(e, zone))
            .collect(),
        rejections,
        older: page.next_before,
        is_first_page: query.before.is_none(),
        notice: notice_text(query.notice.as_deref()),
        paused: summary.paused_until.map_or_else(String::new, |until| {
            format!(
                "Paused until {} ({})",
                display_time(until, zone),
                relative_time(until, now)
            )
        }),
        resumable: monitor.pause.until.is_some_and(|u| u > now),
    };
    html(&view, &layout)
}

/// When a check last passed, where checks arrive; empty where none ever did.
fn verified_text(summary: &MonitorSummary, now: Timestamp) -> String {
    match (&summary.last_check, summary.last_verified) {
        (None, _) => String::new(),
        (Some(_), Some(at)) => relative_time(at, now),
        (Some(_), None) => "never (no check has passed)".into(),
    }
}

/// "A problem after 2d 1h without a success (auto: two runs missed, plus grace) ·
/// a warning when a backup shrinks more than 50 % below the median of its last 5 runs".
fn alerts_text(monitor: &crate::domain::Monitor, summary: &MonitorSummary) -> String {
    use crate::domain::{NoSuccessAlert, format_period};
    let no_success = match (monitor.no_success, summary.no_success_limit) {
        (NoSuccessAlert::Off, _) => "No alert for going without a success".to_owned(),
        (NoSuccessAlert::After(_), Some(limit)) => {
            format!("A problem after {} without a success", format_period(limit))
        }
        (NoSuccessAlert::Auto, Some(limit)) => format!(
            "A problem after {} without a success (auto: two runs missed, plus grace)",
            crate::domain::format_span(limit)
        ),
        _ => "A problem when it misses two runs in a row (known once five regular runs show it)"
            .to_owned(),
    };
    let shrink = if monitor.shrink.is_off() {
        "no shrink check".to_owned()
    } else {
        format!(
            "a warning when a backup shrinks more than {} % below the median of its last {} runs",
            monitor.shrink.percent(),
            monitor.shrink.runs()
        )
    };
    let durations = if monitor.unusual_durations {
        " · a warning when a backup takes far longer or shorter than usual"
    } else {
        ""
    };
    let verify = monitor
        .not_verified_after
        .map_or_else(String::new, |limit| {
            format!(
                " · a problem when not verified for {}",
                format_period(limit)
            )
        });
    let window = monitor.pause.window.as_ref().map_or_else(String::new, |w| {
        let json = w.to_json();
        format!(
            " · paused for {} from each “{}” ({})",
            json["for"].as_str().unwrap_or_default(),
            json["cron"].as_str().unwrap_or_default(),
            json["tz"].as_str().unwrap_or_default()
        )
    });
    format!("{no_success} · {shrink}{durations}{verify}{window}")
}

/// Size and duration over the recent runs that report them, oldest first.
fn charts_of(recent: &[StoredEvent], zone: &jiff::tz::TimeZone) -> (Option<Chart>, Option<Chart>) {
    let series = |value: fn(&StoredEvent) -> Option<i64>| -> Vec<(f64, String)> {
        let mut points: Vec<(f64, String)> = recent
            .iter()
            .take(CHART_RUNS)
            .filter_map(|r| Some((value(r)? as f64, display_time(r.received_at, zone))))
            .collect();
        points.reverse();
        points
    };
    let size = line_chart("Size", &series(|r| r.event.size_bytes()), |v| {
        human_size(v as i64)
    });
    let duration = line_chart("Duration", &series(|r| r.event.duration_ms()), |v| {
        human_duration(v as i64)
    });
    (size, duration)
}

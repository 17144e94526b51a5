//! What pages and the JSON API show of monitors and events.

pub use crate::domain::human_size;
use actix_web::HttpRequest;
use jiff::{Timestamp, Unit};
use serde::Serialize;

use super::AppState;
use crate::domain::Origin;
use crate::domain::{MonitorStatus, StoredEvent};
use crate::service::{MonitorView, PushStatus};

/// A monitor in the JSON API. The webhook ID is included: the API is only reachable
/// through ingress, by people who may see it anyway in the panel.
#[derive(Debug, Serialize)]
pub struct MonitorJson {
    pub key: String,
    /// For slug URLs: `/ping/<ping key>/<slug>`.
    pub slug: String,
    /// Created by its first report and not opened in the panel yet.
    pub unseen: bool,
    pub name: String,
    pub webhook_id: String,
    pub webhook_url: String,
    /// Home Assistant's own URL for this monitor, from outside the house: while the
    /// companion integration is connected and Core has an external or remote URL.
    pub url_from_anywhere: Option<String>,
    /// Its Home Assistant Cloud webhook (`https://hooks.nabu.casa/…`), if one was chosen in
    /// the integration's options.
    pub cloud_webhook_url: Option<String>,
    pub entities: Vec<String>,
    pub history_limit: usize,
    pub has_secret: bool,
    pub origin: Origin,
    pub created_at: Timestamp,
    pub schedule: Option<serde_json::Value>,
    /// Seconds.
    pub grace: i64,
    /// `auto`, `off` or a period such as `3d`.
    pub no_success_after: String,
    /// A successful run this many percent below its source's usual size or file count is a
    /// warning (0: off)…
    pub shrink_percent: i64,
    /// …the usual being the median of this many earlier successful runs.
    pub shrink_runs: i64,
    /// What the history shows, for a monitor without a schedule: its `text`
    /// ("daily around 03:00, grace 1h"), `schedule` and `grace` (seconds).
    pub learned_schedule: Option<serde_json::Value>,
    pub status: MonitorStatus,
    /// Why the status is not fine, naming the sources concerned.
    pub error: Option<String>,
    /// Each source's newest run and last good backup.
    pub sources: Vec<SourceJson>,
    pub last_seen: Option<Timestamp>,
    pub next_expected: Option<Timestamp>,
    pub running_since: Option<Timestamp>,
    /// While a backup reports how far it is (Duplicati's live status): `fraction` (0–1),
    /// `phase`, files and bytes done and in all, and when it was reported.
    pub progress: Option<serde_json::Value>,
    /// `null` when Home Assistant updates are off.
    pub push: Option<PushStatus>,
    /// `mqtt` (discovery, with unique IDs and a device), `rest`, or `off`.
    pub entities_path: crate::ha::catalogue::EntitiesPath,
    /// A successful run far longer or shorter than usual is a warning.
    pub unusual_durations: bool,
    /// Paused until this time (by hand or in the maintenance window); `null`: not paused.
    pub paused_until: Option<Timestamp>,
    /// `{"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for": "3h"}`, or `null`.
    pub maintenance: Option<serde_json::Value>,
    /// The usual duration of a successful run, in seconds, once learned.
    pub usual_duration_s: Option<f64>,
    /// When a check of the backups (a verify job, borgmatic's check) last passed.
    pub last_verified: Option<Timestamp>,
    /// No passing check for this long is a problem (`7d`), or `off`.
    pub not_verified_after: String,
}

impl MonitorJson {
    pub fn new(state: &AppState, req: &HttpRequest, view: &MonitorView) -> Self {
        let MonitorView {
            monitor,
            summary,
            push,
        } = view;
        let (url_from_anywhere, cloud_webhook_url) =
            state.service.outside_urls(&monitor.webhook_id);
        Self {
            key: monitor.key.to_string(),
            slug: monitor.slug.to_string(),
            unseen: monitor.unseen,
            name: monitor.name.as_str().to_owned(),
            webhook_id: monitor.webhook_id.as_str().to_owned(),
            webhook_url: state.webhook_url(req, &monitor.webhook_id),
            url_from_anywhere,
            cloud_webhook_url,
            entities: crate::ha::catalogue::entity_ids_on(
                state.service.entities_status().path,
                &monitor.key,
                summary,
            ),
            history_limit: monitor.history_limit.get(),
            has_secret: monitor.secret.is_some(),
            origin: monitor.origin,
            created_at: monitor.created_at,
            schedule: monitor.schedule.as_ref().map(|s| s.to_json()),
            grace: monitor.grace.as_secs(),
            no_success_after: monitor.no_success.to_text(),
            shrink_percent: monitor.shrink.percent(),
            shrink_runs: monitor.shrink.runs(),
            learned_schedule: summary.rhythm.as_ref().map(|rhythm| {
                serde_json::json!({
                    "text": rhythm.to_string(),
                    "schedule": rhythm.schedule(&state.settings.options.timezone_name).to_json(),
                    "grace": rhythm.grace().as_secs(),
                })
            }),
            status: summary.status,
            error: summary.reason(),
            sources: summary
                .sources
                .iter()
                .map(|latest| {
                    let success = summary.last_success_of(latest.event.source());
                    SourceJson {
                        source: latest.event.source().map(str::to_owned),
                        status: MonitorStatus::worst_of([latest.event.status()]),
                        last_run: latest.ended_at(),
                        error: latest.event.error().map(str::to_owned),
                        last_success: success.map(StoredEvent::ended_at),
                        size_bytes: success.and_then(|s| s.event.size_bytes()),
                    }
                })
                .collect(),
            last_seen: summary.last_seen,
            next_expected: summary.next_expected,
            running_since: summary.running_since,
            progress: summary.progress.as_ref().map(|p| {
                serde_json::json!({
                    "source": p.source,
                    "fraction": p.fraction,
                    "phase": p.phase,
                    "files_done": p.files_done,
                    "files_total": p.files_total,
                    "bytes_done": p.bytes_done,
                    "bytes_total": p.bytes_total,
                    "reported_at": p.reported_at,
                })
            }),
            push: state.service.pushes_enabled().then(|| push.clone()),
            entities_path: state.service.entities_status().path,
            unusual_durations: monitor.unusual_durations,
            paused_until: summary.paused_until,
            maintenance: monitor.pause.window.as_ref().map(|w| w.to_json()),
            usual_duration_s: summary.usual_duration.map(|d| d.as_secs_f64()),
            last_verified: summary.last_verified,
            not_verified_after: monitor
                .not_verified_after
                .map_or_else(|| "off".to_owned(), crate::domain::format_period),
        }
    }
}

/// One source of a monitor in the JSON API.
#[derive(Debug, Serialize)]
pub struct SourceJson {
    /// `null`: runs that name no source.
    pub source: Option<String>,
    pub status: MonitorStatus,
    pub last_run: Timestamp,
    pub error: Option<String>,
    pub last_success: Option<Timestamp>,
    /// Of the last successful run.
    pub size_bytes: Option<i64>,
}

/// An event in the JSON API: UTC RFC 3339 times, numbers as numbers.
#[derive(Debug, Serialize)]
pub struct EventJson<'a> {
    pub id: i64,
    pub received_at: Timestamp,
    pub sender: &'static str,
    pub kind: &'static str,
    pub status: &'static str,
    pub source: Option<&'a str>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub duration_ms: Option<i64>,
    pub size_bytes: Option<i64>,
    pub files: Option<i64>,
    pub dirs: Option<i64>,
    pub error: Option<&'a str>,
    pub host: Option<&'a str>,
    pub target: Option<&'a str>,
}

impl<'a> From<&'a StoredEvent> for EventJson<'a> {
    fn from(stored: &'a StoredEvent) -> Self {
        let e = &stored.event;
        Self {
            id: stored.id,
            received_at: stored.received_at,
            sender: e.sender().as_str(),
            kind: e.kind().as_str(),
            status: e.status().as_str(),
            source: e.source(),
            started_at: e.started_at(),
            finished_at: e.finished_at(),
            duration_ms: e.duration_ms(),
            size_bytes: e.size_bytes(),
            files: e.files(),
            dirs: e.dirs(),
            error: e.error(),
            host: e.host(),
            target: e.target(),
        }
    }
}

/// `42 %` of a running backup, when its tool says how far it is.
pub fn progress_percent(progress: &crate::domain::LiveProgress) -> Option<String> {
    progress
        .fraction
        .map(|f| format!("{:.0} %", (f * 100.0).floor()))
}

/// "42 % · Backup_ProcessingFiles · 1200 of 2900 files · 734.0 MB of 1.80 GB".
pub fn progress_text(progress: &crate::domain::LiveProgress) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(progress_percent(progress));
    parts.extend(progress.phase.clone());
    match (progress.files_done, progress.files_total) {
        (Some(done), Some(total)) => parts.push(format!("{done} of {total} files")),
        (Some(done), None) => parts.push(format!("{done} files")),
        _ => {}
    }
    match (progress.bytes_done, progress.bytes_total) {
        (Some(done), Some(total)) => {
            parts.push(format!("{} of {}", human_size(done), human_size(total)))
        }
        (Some(done), None) => parts.push(human_size(done)),
        _ => {}
    }
    parts.join(" · ")
}

pub use crate::domain::human_duration;

/// `just now`, `5 minutes ago`, `in 3 hours`, `3 days ago`, or the date when far away.
pub fn relative_time(then: Timestamp, now: Timestamp) -> String {
    let seconds = now.duration_since(then).as_secs();
    if seconds < -59 {
        let ahead = relative_time(now, now + now.duration_since(then).abs());
        return ahead
            .strip_suffix(" ago")
            .map_or(ahead.clone(), |a| format!("in {a}"));
    }
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match seconds {
        ..60 => "just now".to_owned(),
        60..3600 => plural(seconds / 60, "minute"),
        3600..86_400 => plural(seconds / 3600, "hour"),
        86_400..2_592_000 => plural(seconds / 86_400, "day"),
        _ => then
            .round(Unit::Minute)
            .map_or_else(|_| then.to_string(), |t| t.strftime("%Y-%m-%d").to_string()),
    }
}

/// A time for tables, in the add-on's time zone (Home Assistant's, unless the `timezone`
/// option says otherwise): `2026-01-31 04:00:05 CET`.
pub fn display_time(ts: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    ts.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_kopia_prints_them() {
        assert_eq!(human_size(456), "456 B");
        assert_eq!(human_size(1_200), "1.20 kB");
        assert_eq!(human_size(45_600_000), "45.6 MB");
        assert_eq!(human_size(1_234_000_000_000), "1.23 TB");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(850), "850 ms");
        assert_eq!(human_duration(1100), "1.1 s");
        assert_eq!(human_duration(125_000), "2 min 5 s");
        assert_eq!(human_duration(3_720_000), "1 h 2 min");
    }

    #[test]
    fn table_times_are_in_the_add_ons_zone() {
        let ts: Timestamp = "2026-01-31T03:00:05Z".parse().unwrap();
        assert_eq!(
            display_time(ts, &jiff::tz::TimeZone::UTC),
            "2026-01-31 03:00:05 UTC"
        );
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(display_time(ts, &berlin), "2026-01-31 04:00:05 CET");
    }

    #[test]
    fn relative_times() {
        let now: Timestamp = "2026-01-31T12:00:00Z".parse().unwrap();
        let ago = |s: i64| relative_time(now - jiff::SignedDuration::from_secs(s), now);
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(7200), "2 hours ago");
        assert_eq!(ago(86_400 * 3), "3 days ago");
        assert_eq!(ago(86_400 * 400), "2024-12-27");
        assert_eq!(ago(-7200), "in 2 hours");
        assert_eq!(ago(-30), "just now");
    }
}

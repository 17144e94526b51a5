//! The watcher watched: every few minutes while the add-on runs, a ping to a URL of the
//! user's (Healthchecks, Uptime Kuma, any URL), in its failure form with the reason while a
//! monitor has a problem. When Home Assistant, the add-on or its host stops, the pings stop,
//! and the service outside notices.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{Service, ServiceError};
use crate::config::HeartbeatSettings;
use crate::domain::{Beat, HeartbeatKind, Overview, OverviewEntry};

/// A problem appearing is told at once, but reports arriving in a burst are not each a ping.
const AT_MOST_EVERY: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(15);

/// How the heartbeat is doing, for the panel and `/api/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeartbeatStatus {
    /// Masked: `https://hc-ping.com/…4f2a`.
    pub url: String,
    pub kind: HeartbeatKind,
    pub every_minutes: u64,
    pub last: Option<HeartbeatSent>,
}

/// The last ping.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeartbeatSent {
    pub at: Timestamp,
    /// `ok` or `problem`.
    pub said: &'static str,
    pub reason: Option<String>,
    /// Why the URL did not take it (no answer, an HTTP error); `None`: it did.
    pub error: Option<String>,
}

/// Shared between the task and the pages.
#[derive(Debug, Default)]
pub struct HeartbeatLog(Mutex<Option<HeartbeatStatus>>);

impl HeartbeatLog {
    pub fn status(&self) -> Option<HeartbeatStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, status: HeartbeatStatus) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }
}

impl Service {
    /// Every monitor at a glance, as the add-on's own entities show it, and when a status
    /// changes next by itself (a run due, a start that takes too long).
    pub async fn overview(&self) -> Result<(Overview, Option<Timestamp>), ServiceError> {
        let views = self.all_monitors().await?;
        let next = views.iter().filter_map(|v| v.summary.changes_at).min();
        let overview = Overview::new(
            views
                .into_iter()
                .map(|view| OverviewEntry {
                    reason: view.summary.reason(),
                    status: view.summary.status,
                    name: view.monitor.name.as_str().to_owned(),
                    key: view.monitor.key,
                })
                .collect(),
        );
        Ok((overview, next))
    }

    /// What the heartbeat says now, and when it may have something else to say.
    async fn beat(&self) -> (Beat, Option<Timestamp>) {
        match self.overview().await {
            Ok((overview, next)) if overview.has_problem() => {
                (Beat::Problem(overview.problems_said(5)), next)
            }
            Ok((overview, next)) => (
                Beat::Fine {
                    monitors: overview.len(),
                },
                next,
            ),
            // A disk that cannot be read is a problem the outside should hear about.
            Err(e) => (
                Beat::Problem(format!(
                    "the add-on cannot read its database: {}",
                    crate::telemetry::ErrorChain(&e)
                )),
                None,
            ),
        }
    }

    pub fn heartbeat_status(&self) -> Option<HeartbeatStatus> {
        self.heartbeat.status()
    }
}

/// Sends the heartbeat until the add-on stops: at start, every period, and at once (at
/// most every five seconds) when a problem appears, changes or goes.
pub async fn send_heartbeats(service: &Service, settings: HeartbeatSettings) {
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the heartbeat's HTTP client");
            return;
        }
    };
    let url = &settings.url;
    tracing::info!(url = %url.masked(), kind = url.kind().display_name(), minutes = settings.every.as_secs() / 60, "heartbeat on");
    let mut last: Option<(Instant, Beat)> = None;
    let mut version = 0;
    let mut failing = false;
    while !service.is_stopping() {
        let (beat, changes_at) = service.beat().await;
        let due = last.as_ref().is_none_or(|(at, said)| {
            at.elapsed() >= settings.every
                || std::mem::discriminant(said) != std::mem::discriminant(&beat)
                || matches!((said, &beat), (Beat::Problem(a), Beat::Problem(b)) if a != b)
        });
        if due {
            let error = send(&client, &settings, &beat).await.err();
            match (&error, failing) {
                (Some(error), false) => {
                    tracing::warn!(url = %url.masked(), %error, "the heartbeat URL did not take the ping; trying again next time")
                }
                (None, true) => {
                    tracing::info!(url = %url.masked(), "the heartbeat URL takes pings again")
                }
                _ => {}
            }
            failing = error.is_some();
            let (said, reason) = match &beat {
                Beat::Fine { .. } => ("ok", None),
                Beat::Problem(why) => ("problem", Some(why.clone())),
            };
            service.heartbeat.set(HeartbeatStatus {
                url: url.masked(),
                kind: url.kind(),
                every_minutes: settings.every.as_secs() / 60,
                last: Some(HeartbeatSent {
                    at: Timestamp::now(),
                    said,
                    reason,
                    error,
                }),
            });
            last = Some((Instant::now(), beat));
        }
        let elapsed = last.as_ref().map_or(Duration::ZERO, |(at, _)| at.elapsed());
        let mut wait = settings.every.saturating_sub(elapsed);
        if let Some(at) = changes_at {
            // A monitor turns overdue by itself then: told without waiting for the period.
            let until = at.duration_since(Timestamp::now()).as_millis().max(0) as u64;
            wait = wait.min(Duration::from_millis(until + 50).max(AT_MOST_EVERY));
        }
        let seen = service.next_change(version, wait).await;
        if seen != version {
            version = seen;
            tokio::time::sleep(AT_MOST_EVERY).await;
        }
    }
}

/// One ping; the error in words, never with the URL (it holds the check's secret).
async fn send(
    client: &reqwest::Client,
    settings: &HeartbeatSettings,
    beat: &Beat,
) -> Result<(), String> {
    let ping = settings.url.ping(beat);
    let mut request = if ping.post {
        client.post(&ping.url)
    } else {
        client.get(&ping.url)
    };
    if let Some((content_type, body)) = ping.body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
    }
    let answer = request
        .header(
            reqwest::header::USER_AGENT,
            concat!("kopia-webhook/", env!("CARGO_PKG_VERSION")),
        )
        .send()
        .await
        .map_err(|e| crate::telemetry::ErrorChain(&e.without_url()).to_string())?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("it answered {status}"))
    }
}

//! Monitor operations: create, change, list, delete, rotate, test, history.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{EventPage, PushStatus, Rejection, Service, ServiceError};
use crate::domain::{
    BackupEvent, EventKind, Grace, HistoryLimit, MaintenanceWindow, Monitor, MonitorChanges,
    MonitorKey, MonitorName, MonitorSummary, NewMonitor, NoSuccessAlert, Origin, ParseError,
    RunStatus, Schedule, SenderKind, ShrinkRule, WebhookId,
};

/// A monitor with what it shows now.
#[derive(Debug, Clone)]
pub struct MonitorView {
    pub monitor: Monitor,
    pub summary: MonitorSummary,
    pub push: PushStatus,
}

/// What "send test event" did.
#[derive(Debug, Clone, Copy)]
pub struct TestOutcome {
    /// `false` when pushes to Home Assistant are off: the event is stored only.
    pub sent_to_home_assistant: bool,
}

/// What a person sets on a monitor, as the JSON API and the panel's forms send it: one
/// shape for a new monitor (absent fields take their defaults) and an edit (absent fields
/// stay as they are; `null` removes a secret or a schedule). Parsed at the edge with
/// [`MonitorFields::parse`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorFields {
    #[serde(default)]
    pub name: Option<String>,
    /// Only for a new monitor (an edit gets a new one with "New URL").
    #[serde(default)]
    pub webhook_id: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub history_limit: Option<i64>,
    /// A string, or `null` (or empty) for none.
    #[serde(default, deserialize_with = "present")]
    pub secret: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub schedule: Option<serde_json::Value>,
    #[serde(default)]
    pub grace: Option<String>,
    /// A drop of more than this many percent is a warning (0: off).
    #[serde(default, deserialize_with = "number_or_string")]
    pub shrink_percent: Option<i64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub shrink_runs: Option<i64>,
    /// `auto`, `off` or a period such as `3d`.
    #[serde(default)]
    pub no_success_after: Option<String>,
    /// A successful run far longer or shorter than usual is a warning (default on).
    #[serde(default)]
    pub unusual_durations: Option<bool>,
    /// A weekly window `{"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for": "3h"}`, or
    /// `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub maintenance: Option<serde_json::Value>,
    /// No passing check for this long is a problem (`7d`); `off` (default) or empty: none.
    #[serde(default)]
    pub not_verified_after: Option<String>,
}

/// [`MonitorFields`], parsed: what the use cases take. `None`: not given.
#[derive(Debug, Default)]
pub struct MonitorSettings {
    pub name: Option<MonitorName>,
    pub webhook_id: Option<WebhookId>,
    pub history_limit: Option<HistoryLimit>,
    /// `Some(None)`: no secret.
    pub secret: Option<Option<secrecy::SecretString>>,
    /// `Some(None)`: no schedule.
    pub schedule: Option<Option<Schedule>>,
    pub grace: Option<Grace>,
    pub shrink_percent: Option<i64>,
    pub shrink_runs: Option<i64>,
    pub no_success: Option<NoSuccessAlert>,
    pub unusual_durations: Option<bool>,
    /// `Some(None)`: no maintenance window.
    pub maintenance: Option<Option<MaintenanceWindow>>,
    /// `Some(None)`: no "not verified" alert.
    pub not_verified_after: Option<Option<jiff::SignedDuration>>,
}

impl MonitorFields {
    /// Parses every field given; a cron schedule without a zone runs in `zone_name`.
    pub fn parse(self, zone_name: &str) -> Result<MonitorSettings, ParseError> {
        let webhook_id = self
            .webhook_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(WebhookId::parse)
            .transpose()?;
        let secret = match self.secret {
            None => None,
            Some(serde_json::Value::Null) => Some(None),
            Some(serde_json::Value::String(secret)) => Some(parse_secret(&secret)?),
            Some(_) => {
                return Err(ParseError::new(
                    "secret must be a string, or null to remove it",
                ));
            }
        };
        let schedule = match self.schedule {
            None => None,
            Some(serde_json::Value::Null) => Some(None),
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => Some(None),
            Some(serde_json::Value::String(text)) => {
                Some(Some(Schedule::from_text(&text, zone_name)?))
            }
            Some(other) => Some(Some(Schedule::from_json(&other, zone_name)?)),
        };
        let maintenance = match self.maintenance {
            None => None,
            Some(serde_json::Value::Null) => Some(None),
            Some(window) => {
                let mut window = window;
                if window.get("tz").is_none_or(serde_json::Value::is_null) {
                    window["tz"] = serde_json::json!(zone_name);
                }
                Some(Some(MaintenanceWindow::from_json(&window)?))
            }
        };
        let not_verified_after = self
            .not_verified_after
            .as_deref()
            .map(|text| crate::domain::parse_period_or_off(text, "not_verified_after"))
            .transpose()?;
        Ok(MonitorSettings {
            not_verified_after,
            unusual_durations: self.unusual_durations,
            maintenance,
            name: self.name.as_deref().map(MonitorName::parse).transpose()?,
            webhook_id,
            history_limit: self.history_limit.map(HistoryLimit::parse).transpose()?,
            secret,
            schedule,
            grace: match self
                .grace
                .as_deref()
                .map(str::trim)
                .filter(|g| !g.is_empty())
            {
                Some(text) => Some(Grace::parse(text)?),
                None => None,
            },
            shrink_percent: self.shrink_percent,
            shrink_runs: self.shrink_runs,
            no_success: self
                .no_success_after
                .as_deref()
                .map(NoSuccessAlert::parse)
                .transpose()?,
        })
    }
}

/// A field that is there, `null` included (serde reads a `null` into `None` otherwise, and
/// an edit's `"secret": null`, which removes the secret, would change nothing).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// HTML forms send every field as text, JSON clients send numbers; both mean the same.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(Raw::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a number"))),
    }
}

impl Service {
    /// Creates the monitor and queues its first push.
    pub async fn create_monitor(&self, new: MonitorSettings) -> Result<Monitor, ServiceError> {
        let name = new
            .name
            .ok_or_else(|| ParseError::new("a monitor needs a name: send {\"name\": \"...\"}"))?;
        let shrink = ShrinkRule::new(
            new.shrink_percent.unwrap_or(ShrinkRule::DEFAULT.percent()),
            new.shrink_runs.unwrap_or(ShrinkRule::DEFAULT.runs()),
        )?;
        let webhook_id = new.webhook_id.unwrap_or_else(WebhookId::generate);
        let history_limit = new
            .history_limit
            .unwrap_or(self.settings.options.history_limit);
        let (secret, schedule) = (new.secret.flatten(), new.schedule.flatten());
        let grace = new.grace.unwrap_or(Grace::DEFAULT);
        let no_success = new.no_success.unwrap_or(NoSuccessAlert::Auto);
        if webhook_id.looks_weak() {
            tracing::warn!(webhook_id = %webhook_id.masked(), "a chosen webhook ID looks guessable");
        }
        let monitor = self
            .store
            .create_monitor(
                NewMonitor {
                    slug: None,
                    unseen: false,
                    name,
                    webhook_id,
                    history_limit,
                    secret,
                    schedule,
                    grace,
                    shrink,
                    no_success,
                    unusual_durations: new.unusual_durations.unwrap_or(true),
                    maintenance: new.maintenance.flatten(),
                    not_verified_after: new.not_verified_after.flatten(),
                },
                Origin::Ui,
            )
            .await?;
        tracing::info!(monitor = %monitor.key, "monitor created");
        self.publisher().entities_due();
        self.changed();
        Ok(monitor)
    }

    /// Parses an edit and applies it; monitors declared in the add-on options are edited there.
    pub async fn update_monitor(
        &self,
        monitor: &Monitor,
        edit: MonitorSettings,
    ) -> Result<Monitor, ServiceError> {
        refuse_if_declared(monitor)?;
        if edit.webhook_id.is_some() {
            return Err(ParseError::new(
                "the webhook ID is not edited: give the monitor a new URL instead (POST /monitors/<key>/rotate in the panel)",
            )
            .into());
        }
        let mut changes = MonitorChanges {
            name: edit.name,
            history_limit: edit.history_limit,
            secret: edit.secret,
            schedule: edit.schedule,
            grace: edit.grace,
            no_success: edit.no_success,
            unusual_durations: edit.unusual_durations,
            maintenance: edit.maintenance,
            not_verified_after: edit.not_verified_after,
            ..MonitorChanges::default()
        };
        if edit.shrink_percent.is_some() || edit.shrink_runs.is_some() {
            changes.shrink = Some(ShrinkRule::new(
                edit.shrink_percent.unwrap_or(monitor.shrink.percent()),
                edit.shrink_runs.unwrap_or(monitor.shrink.runs()),
            )?);
        }
        let updated = self.store.update_monitor(monitor.id, changes).await?;
        tracing::info!(monitor = %updated.key, "monitor updated");
        self.publisher().entities_due();
        self.changed();
        Ok(updated)
    }

    /// Pauses the monitor until `until` (nothing is a problem meanwhile), or resumes it
    /// (`None`). Works for monitors declared in the options too: a pause is no setting.
    pub async fn pause_monitor(
        &self,
        monitor: &Monitor,
        until: Option<jiff::Timestamp>,
    ) -> Result<Monitor, ServiceError> {
        if let Some(until) = until {
            let now = jiff::Timestamp::now();
            if until <= now {
                return Err(ParseError::new("the pause would end before it starts: give a time in the future, or a period such as 2h").into());
            }
            if until.duration_since(now) > jiff::SignedDuration::from_hours(24 * 366) {
                return Err(ParseError::new(
                    "a pause lasts at most a year; delete the monitor if it is not needed",
                )
                .into());
            }
        }
        let changes = MonitorChanges {
            paused_until: Some(until),
            ..MonitorChanges::default()
        };
        let updated = self.store.update_monitor(monitor.id, changes).await?;
        match until {
            Some(until) => tracing::info!(monitor = %updated.key, until = %until, "monitor paused"),
            None => tracing::info!(monitor = %updated.key, "monitor resumed"),
        }
        self.publisher().entities_due();
        self.changed();
        Ok(updated)
    }

    /// What a monitor looks like now: its runs, and reports lost to a full disk.
    fn summary_of(&self, monitor: &Monitor, runs: crate::domain::MonitorRuns) -> MonitorSummary {
        let summary = MonitorSummary::of(monitor, runs, &self.settings.options.timezone);
        match self.publisher().storage().of(monitor.id) {
            Some(full) => summary.with_storage_full(full),
            None => summary,
        }
    }

    /// Every monitor with its current summary and Home Assistant push status, in a handful
    /// of queries for all of them (dashboard, monitor list, status).
    pub async fn all_monitors(&self) -> Result<Vec<MonitorView>, ServiceError> {
        let monitors = self.store.monitors().await?;
        let mut runs = self.store.all_monitor_runs().await?;
        let mut pushes = self.store.push_statuses().await?;
        Ok(monitors
            .into_iter()
            .map(|m| {
                let summary = self.summary_of(&m, runs.remove(&m.id).unwrap_or_default());
                let push = pushes.remove(&m.id).unwrap_or_default();
                MonitorView {
                    monitor: m,
                    summary,
                    push,
                }
            })
            .collect())
    }

    /// Deletes a monitor with its history and removes its entities from Home Assistant.
    pub async fn delete_monitor(&self, monitor: &Monitor) -> Result<(), ServiceError> {
        refuse_if_declared(monitor)?;
        self.store.delete_monitor(monitor.id).await?;
        tracing::info!(monitor = %monitor.key, "monitor deleted");
        self.publisher().monitor_deleted(monitor.id, &monitor.key);
        self.changed();
        Ok(())
    }

    /// Applies the `monitors` add-on option; broken entries are logged and skipped, so one
    /// typo does not stop every other monitor.
    pub async fn apply_declared_monitors(&self) -> Result<(), ServiceError> {
        let mut declared = Vec::new();
        for entry in &self.settings.options.monitors {
            match entry {
                Ok(monitor) => declared.push(monitor.clone()),
                Err(reason) => tracing::error!("skipped: {reason}"),
            }
        }
        let keys = self.store.sync_declared_monitors(declared).await?;
        // Their entities are due (new ones by default, changed ones by the sync): the
        // evaluator may already have looked before they were there.
        self.publisher().entities_due();
        if !keys.is_empty() {
            tracing::info!(
                count = keys.len(),
                "monitors from the add-on options are in place"
            );
        }
        Ok(())
    }

    /// Deletes events older than the `retention_days` option.
    pub async fn prune_old_events(&self) {
        let days = self.settings.options.retention_days;
        let cutoff = Timestamp::now() - SignedDuration::from_hours(24 * i64::from(days));
        match self.store.prune_events(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, retention_days = days, "old events pruned"),
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "pruning old events failed")
            }
        }
    }

    /// The monitor with this key.
    pub async fn monitor(&self, key: &str) -> Result<Monitor, ServiceError> {
        let not_found = || ServiceError::NoSuchMonitor(key.to_owned());
        let key = MonitorKey::parse(key).map_err(|_| not_found())?;
        self.store.monitor_by_key(&key).await?.ok_or_else(not_found)
    }

    /// The monitor was opened in the panel: a monitor that created itself is no longer new.
    pub async fn mark_seen(&self, monitor: &Monitor) -> Result<(), ServiceError> {
        if monitor.unseen {
            self.store.mark_seen(monitor.id).await?;
            self.changed();
        }
        Ok(())
    }

    /// A monitor as it is now, with its `recent` newest runs.
    pub async fn view(&self, monitor: Monitor, recent: usize) -> Result<MonitorView, ServiceError> {
        let runs = self.store.monitor_runs(monitor.id, recent).await?;
        let push = self.store.push_status(monitor.id).await?;
        let summary = self.summary_of(&monitor, runs);
        Ok(MonitorView {
            monitor,
            summary,
            push,
        })
    }

    /// A page of the monitor's events, newest first, older than the event `before`.
    pub async fn history(
        &self,
        monitor: &Monitor,
        before: Option<i64>,
        limit: usize,
    ) -> Result<EventPage, ServiceError> {
        if !(1..=500).contains(&limit) {
            return Err(ParseError::new("limit must be between 1 and 500").into());
        }
        Ok(self.store.events(monitor.id, before, limit).await?)
    }

    /// Requests of this monitor that were refused, newest first.
    pub async fn rejections(
        &self,
        monitor: &Monitor,
        limit: usize,
    ) -> Result<Vec<Rejection>, ServiceError> {
        Ok(self.store.rejections(monitor.id, limit).await?)
    }

    /// Gives the monitor a new webhook ID; the old URL stops working at once.
    pub async fn rotate_webhook_id(&self, monitor: &Monitor) -> Result<Monitor, ServiceError> {
        refuse_if_declared(monitor)?;
        let changes = MonitorChanges {
            webhook_id: Some(WebhookId::generate()),
            ..MonitorChanges::default()
        };
        let updated = self.store.update_monitor(monitor.id, changes).await?;
        tracing::info!(monitor = %monitor.key, "webhook ID rotated");
        // Open pages show the new URL, and the integration moves its registration at once.
        self.changed();
        Ok(updated)
    }

    /// Stores a test event as if a backup tool had sent one: the whole path to Home
    /// Assistant is exercised, and a monitor with nothing else turns green.
    pub async fn send_test_event(&self, monitor: &Monitor) -> Result<TestOutcome, ServiceError> {
        let event = BackupEvent::new(SenderKind::PANEL, EventKind::Test, RunStatus::Success);
        self.ingest(monitor, vec![event], super::Caller::default())
            .await?;
        Ok(TestOutcome {
            sent_to_home_assistant: self.publisher().is_enabled(),
        })
    }

    /// Turns the rhythm the monitor's history shows into its schedule and grace, worked out
    /// again here from the stored runs (not from what a form sent).
    pub async fn apply_learned_schedule(&self, monitor: &Monitor) -> Result<Monitor, ServiceError> {
        refuse_if_declared(monitor)?;
        if monitor.schedule.is_some() {
            return Err(ServiceError::Conflict(
                "this monitor already has a schedule; change it with Edit".into(),
            ));
        }
        let view = self.view(monitor.clone(), 1).await?;
        let Some(rhythm) = view.summary.rhythm else {
            return Err(ServiceError::Conflict(
                "its runs show no regular rhythm yet (at least five runs at a steady interval are needed); set a schedule with Edit".into(),
            ));
        };
        let changes = MonitorChanges {
            schedule: Some(Some(rhythm.schedule(&self.settings.options.timezone_name))),
            grace: Some(rhythm.grace()),
            ..MonitorChanges::default()
        };
        let updated = self.store.update_monitor(monitor.id, changes).await?;
        tracing::info!(monitor = %updated.key, rhythm = %rhythm, "learned schedule applied");
        self.publisher().entities_due();
        self.changed();
        Ok(updated)
    }

    /// Forgets a source that is no longer backed up: it stops counting towards the status
    /// (its history stays). A new run of it brings it back.
    pub async fn retire_source(
        &self,
        monitor: &Monitor,
        source: Option<&str>,
    ) -> Result<bool, ServiceError> {
        let retired = self
            .store
            .retire_source(monitor.id, source.unwrap_or("").to_owned())
            .await?;
        if retired {
            tracing::info!(monitor = %monitor.key, "a source was retired");
            self.publisher().entities_due();
            self.changed();
        }
        Ok(retired)
    }
}

fn refuse_if_declared(monitor: &Monitor) -> Result<(), ServiceError> {
    if monitor.origin == Origin::Options {
        return Err(ServiceError::Conflict(
            "this monitor is declared in the add-on options; change or remove it there".into(),
        ));
    }
    Ok(())
}

/// An empty secret means none; a short one is refused.
fn parse_secret(text: &str) -> Result<Option<secrecy::SecretString>, ParseError> {
    match text.trim() {
        "" => Ok(None),
        s if s.chars().count() < 8 => Err(ParseError::new("a secret needs at least 8 characters")),
        s => Ok(Some(secrecy::SecretString::from(s.to_owned()))),
    }
}

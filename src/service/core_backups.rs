//! Home Assistant's own backups as a monitor: what Core's backup integration tells
//! (`ha::backups`) recorded as runs of a monitor the add-on makes itself, its schedule
//! Core's automatic-backup settings.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use super::{Caller, Service, ServiceError};
use crate::domain::{
    BackupEvent, EventKind, Grace, Monitor, MonitorChanges, MonitorName, NewMonitor, RunStatus,
    Schedule, SenderKind, WebhookId,
};
use crate::ha::backups::{CoreBackup, CoreBackupNews};

/// The monitor's name: `sensor.kopia_home_assistant_backups`.
pub const MONITOR_NAME: &str = "Home Assistant backups";
/// A backup of Home Assistant with its add-ons takes a while, and Core may start an
/// automatic one up to an hour after its set time.
const GRACE_SECS: i64 = 3 * 3600;
/// A start older than this is not the start of the backup that completes now.
const LONGEST_BACKUP: SignedDuration = SignedDuration::from_hours(12);

/// What the follower remembers between Core's messages.
#[derive(Debug, Default)]
pub struct CoreBackupsState {
    /// Core's schedule and zone as last told (`Some(None)`: no automatic backups).
    schedule: Mutex<Option<Option<(String, String)>>>,
    /// When the running backup started, to give the finished one its duration.
    started: Mutex<Option<Timestamp>>,
}

impl Service {
    /// Records what Core said about its backups; a failure is logged (Core tells again at
    /// the next connection, and the backups it lists are recorded then).
    pub async fn core_backup_news(&self, news: CoreBackupNews) {
        if let Err(e) = self.record_core_backup(news).await {
            tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot record Home Assistant's backup");
        }
    }

    async fn record_core_backup(&self, news: CoreBackupNews) -> Result<(), ServiceError> {
        let state = &self.core_backups;
        if let CoreBackupNews::Schedule(cron) = &news {
            *state.schedule.lock().unwrap_or_else(|p| p.into_inner()) = Some(cron.clone());
        }
        let Some(monitor) = self.core_backups_monitor().await? else {
            return Ok(());
        };
        match news {
            CoreBackupNews::Schedule(cron) => self.follow_core_schedule(&monitor, cron).await,
            CoreBackupNews::Started => {
                let now = Timestamp::now();
                *state.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
                let start = BackupEvent::new(
                    SenderKind::HOME_ASSISTANT,
                    EventKind::Start,
                    RunStatus::Unknown,
                );
                self.ingest(&monitor, vec![start], Caller::default())
                    .await?;
                Ok(())
            }
            CoreBackupNews::Backups(mut backups) => {
                backups.sort_by_key(|b| b.date);
                let oldest_kept = Timestamp::now()
                    - SignedDuration::from_hours(
                        24 * i64::from(self.settings.options.retention_days),
                    );
                let started = state
                    .started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                for backup in backups.iter().filter(|b| b.date >= oldest_kept) {
                    let event = run_of(backup, started);
                    let arrived = Caller {
                        peer: None,
                        arrived: Some(backup.date),
                    };
                    self.ingest(&monitor, vec![event], arrived).await?;
                }
                Ok(())
            }
            CoreBackupNews::Failed(reason) => {
                let started = state
                    .started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                let mut failed = BackupEvent::new(
                    SenderKind::HOME_ASSISTANT,
                    EventKind::Run,
                    RunStatus::Failed,
                )
                .with_error(&reason);
                if let Some(started) =
                    started.filter(|s| Timestamp::now().duration_since(*s) < LONGEST_BACKUP)
                {
                    failed = failed.with_times(Some(started), Some(Timestamp::now()));
                }
                self.ingest(&monitor, vec![failed], Caller::default())
                    .await?;
                Ok(())
            }
            CoreBackupNews::MissedAutomatic(at) => {
                let failed =
                    BackupEvent::new(SenderKind::HOME_ASSISTANT, EventKind::Run, RunStatus::Failed)
                        .with_error(&format!(
                            "the automatic backup started at {} UTC did not complete (Settings → System → Backups says why)",
                            at.strftime("%Y-%m-%d %H:%M")
                        ))
                        .with_dedup_key(format!("home_assistant:attempt:{}", at.as_second()));
                let arrived = Caller {
                    peer: None,
                    arrived: Some(at),
                };
                self.ingest(&monitor, vec![failed], arrived).await?;
                Ok(())
            }
        }
    }

    /// The monitor, made at Core's first word; `None` once the user deleted it (that is how
    /// Home Assistant's backups are no longer followed).
    async fn core_backups_monitor(&self) -> Result<Option<Monitor>, ServiceError> {
        if let Some(id) = self.store.core_backups_monitor().await? {
            return Ok(self.store.monitor_by_id(id).await?);
        }
        let cron = self
            .core_backups
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .flatten();
        let mut new = NewMonitor::new(
            MonitorName::parse(MONITOR_NAME).map_err(ServiceError::Invalid)?,
            WebhookId::generate(),
        );
        new.schedule = cron.and_then(|(cron, zone)| core_schedule(&cron, &zone));
        new.grace = Grace::from_secs(GRACE_SECS).map_err(ServiceError::Invalid)?;
        let monitor = self
            .store
            .create_monitor(new, crate::domain::Origin::Ui)
            .await?;
        self.store.set_core_backups_monitor(monitor.id).await?;
        tracing::info!(monitor = %monitor.key, "following Home Assistant's own backups");
        self.changed();
        Ok(Some(monitor))
    }

    /// Core's schedule changed (or was told at connection): the monitor's follows.
    async fn follow_core_schedule(
        &self,
        monitor: &Monitor,
        cron: Option<(String, String)>,
    ) -> Result<(), ServiceError> {
        let schedule = cron.and_then(|(cron, zone)| core_schedule(&cron, &zone));
        let same = |s: &Option<Schedule>| s.as_ref().map(Schedule::to_json);
        if same(&schedule) == same(&monitor.schedule) {
            return Ok(());
        }
        let changes = MonitorChanges {
            schedule: Some(schedule),
            ..MonitorChanges::default()
        };
        self.store.update_monitor(monitor.id, changes).await?;
        self.publisher().entities_due();
        self.changed();
        Ok(())
    }
}

fn core_schedule(cron: &str, zone: &str) -> Option<Schedule> {
    Schedule::cron(cron, zone)
        .inspect_err(|e| tracing::warn!(cron, zone, error = %e, "Home Assistant's backup schedule is not one the add-on reads"))
        .ok()
}

/// A backup Core lists, as a run: a success, or a warning where some location did not take
/// it. Recorded once (its ID is the dedup key).
fn run_of(backup: &CoreBackup, started: Option<Timestamp>) -> BackupEvent {
    let mut event = BackupEvent::new(
        SenderKind::HOME_ASSISTANT,
        EventKind::Run,
        RunStatus::Success,
    )
    .with_dedup_key(format!("home_assistant:{}", backup.id))
    .with_target(&backup.agents.join(", "))
    .with_source(if backup.automatic {
        "automatic"
    } else {
        "manual"
    });
    if let Some(size) = backup.size {
        event = event.with_size_bytes(size);
    }
    // Core dates a backup when it starts; the one that completes now took until now.
    let now = Timestamp::now();
    if started.is_some_and(|s| backup.date >= s - SignedDuration::from_mins(1))
        && now.duration_since(backup.date) < LONGEST_BACKUP
    {
        event = event.with_times(Some(backup.date), Some(now));
    }
    if !backup.failed_agents.is_empty() {
        event = event.with_warning(format!(
            "not stored on {} (Settings → System → Backups)",
            backup.failed_agents.join(", ")
        ));
    }
    event
}

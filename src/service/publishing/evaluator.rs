//! Works out each monitor's entities when something arrives and when a deadline passes
//! (overdue, a run that takes too long): the outbox in SQLite (REST) or MQTT discovery, and
//! the persistent notification of a monitor with a problem.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::notices::{notification_id, problem_notice};
use super::outbox::Wake;
use super::{Alerting, EVALUATION_SETTLE, StorageHealth};
use crate::domain::{MonitorSummary, Overview, OverviewEntry};
use crate::ha::mqtt::Mqtt;
use crate::ha::{CoreClient, render, render_overview};
use crate::store::{Store, StoreError};

/// Recomputes the monitors the store marks due, when woken and when a monitor's next
/// deadline passes (overdue, a run that takes too long); timers, not polling.
/// What the evaluator works with.
pub(super) struct Evaluator {
    pub store: Store,
    /// States go straight to Core when the outbox cannot be written (a full disk).
    pub client: CoreClient,
    pub mqtt: Option<Arc<Mqtt>>,
    pub alerting: Alerting,
    pub storage: Arc<StorageHealth>,
    pub also_due: Arc<Mutex<Vec<i64>>>,
}

pub(super) async fn evaluate_monitors(evaluator: Evaluator, due: Arc<Notify>, wake: Arc<Wake>) {
    let store = evaluator.store.clone();
    let (mqtt, alerting) = (evaluator.mqtt.clone(), &evaluator.alerting);
    let mut deadlines: HashMap<i64, Timestamp> = HashMap::new();
    if !alerting.notify {
        // Turned off: notifications of earlier runs go.
        if let Err(e) = store.dismiss_notifications(None).await {
            tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the dismissal of notifications");
        }
    }
    if let Err(e) = store.mark_all_due().await {
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot mark the monitors for the start-up push");
    }
    if let Err(e) = store.forget_pushed().await {
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the start-up push");
    }
    if mqtt.is_some() {
        // Switched to MQTT: the REST states of earlier runs would double every entity.
        match store.remove_rest_states().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                states = n,
                "removing the REST states: the entities now come through MQTT discovery"
            ),
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the removal of REST states")
            }
        }
    }
    let mut expired: Vec<i64> = Vec::new();
    // Every monitor's status, for the add-on's own entities; filled by the start-up round.
    let mut entries: HashMap<i64, OverviewEntry> = HashMap::new();
    let mut shown: Option<Overview> = None;
    // Shown again then: over MQTT it waits for the old REST states to be removed.
    let mut overview_again: Option<Timestamp> = None;
    loop {
        let mut todo: Vec<(i64, Option<i64>)> = match store.due_monitors().await {
            Ok(todo) => todo.into_iter().map(|(id, due)| (id, Some(due))).collect(),
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read which monitors changed");
                Vec::new()
            }
        };
        let also_due: Vec<i64> =
            std::mem::take(&mut *evaluator.also_due.lock().unwrap_or_else(|p| p.into_inner()));
        for id in expired.drain(..).chain(also_due) {
            if !todo.iter().any(|(m, _)| *m == id) {
                // Not changed, only late: nothing to clear.
                todo.push((id, None));
            }
        }
        for (id, seen) in todo {
            match evaluate(&evaluator, id, seen).await {
                Ok(evaluated) => {
                    match evaluated.changes_at {
                        Some(at) => deadlines.insert(id, at),
                        None => deadlines.remove(&id),
                    };
                    match evaluated.entry {
                        Some(entry) => entries.insert(id, entry),
                        None => entries.remove(&id),
                    };
                }
                Err(e) => {
                    tracing::error!(monitor = id, error = %crate::telemetry::ErrorChain(&e), "cannot work out a monitor's state")
                }
            }
        }
        let overview = Overview::new(entries.values().cloned().collect());
        if shown.as_ref() != Some(&overview) {
            overview_again = None;
            match show_overview(&evaluator, &overview).await {
                Ok(true) => shown = Some(overview),
                Ok(false) => {
                    overview_again = Some(Timestamp::now() + jiff::SignedDuration::from_secs(1));
                }
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the overview entities")
                }
            }
        }
        wake.pusher.notify_one();

        let sleep = deadlines
            .values()
            .chain(overview_again.iter())
            .min()
            .map(|next| until(*next))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            // A moment for more reports to land: under a burst one evaluation covers many
            // (each is a handful of reads and a write), at a cost of 20 ms to Home Assistant.
            () = due.notified() => tokio::time::sleep(EVALUATION_SETTLE).await,
            () = tokio::time::sleep(sleep) => {
                let now = Timestamp::now();
                deadlines.retain(|id, at| {
                    if *at <= now {
                        expired.push(*id);
                        false
                    } else {
                        true
                    }
                });
            }
        }
    }
}

/// A monitor worked out: when its status changes next by itself, and what the overview
/// shows of it (`None`: it was deleted).
#[derive(Default)]
struct Evaluated {
    changes_at: Option<Timestamp>,
    entry: Option<OverviewEntry>,
}

/// The add-on's own entities: published over MQTT, or written to the outbox. `false`: not
/// yet (REST states are still being removed).
async fn show_overview(evaluator: &Evaluator, overview: &Overview) -> Result<bool, StoreError> {
    if let Some(mqtt) = &evaluator.mqtt {
        if evaluator.store.unowned_removals_pending().await? {
            return Ok(false);
        }
        mqtt.publish_overview(overview);
        return Ok(true);
    }
    let states: Vec<(String, String)> = render_overview(overview)
        .into_iter()
        .map(|(entity_id, state)| (entity_id, state.to_json()))
        .collect();
    match evaluator.store.queue_overview_states(states.clone()).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_disk_full() => {
            for (entity_id, state) in &states {
                if let Err(e) = evaluator.client.set_state(entity_id, state).await {
                    tracing::warn!(entity_id, error = %crate::telemetry::ErrorChain(&e), "cannot tell Home Assistant that the disk is full");
                }
            }
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// Writes the monitor's entities to the outbox (REST) or publishes them (MQTT); returns when
/// its status changes next.
async fn evaluate(
    evaluator: &Evaluator,
    id: i64,
    seen: Option<i64>,
) -> Result<Evaluated, StoreError> {
    let Evaluator {
        store,
        mqtt,
        alerting,
        ..
    } = evaluator;
    let Some(monitor) = store.monitor_by_id(id).await? else {
        return Ok(Evaluated::default());
    };
    let runs = store
        .monitor_runs(monitor.id, monitor.history_limit.get())
        .await?;
    let mut summary = MonitorSummary::of(&monitor, runs, &alerting.zone);
    if let Some(full) = evaluator.storage.of(monitor.id) {
        summary = summary.with_storage_full(full);
    }
    let evaluated = Evaluated {
        changes_at: summary.changes_at,
        entry: Some(OverviewEntry {
            key: monitor.key.clone(),
            name: monitor.name.as_str().to_owned(),
            status: summary.status,
            reason: summary.reason(),
        }),
    };
    if alerting.notify {
        let notice = problem_notice(&monitor, &summary, alerting.panel.as_deref());
        if let Err(e) = store
            .want_notification(monitor.id, notification_id(&monitor), notice)
            .await
            && !e.is_disk_full()
        {
            return Err(e);
        }
    }
    if let Some(mqtt) = mqtt {
        if store.removals_pending(monitor.id).await? {
            // The old REST states still hold the entity IDs: look again in a moment.
            return Ok(Evaluated {
                changes_at: Some(Timestamp::now() + jiff::SignedDuration::from_secs(1)),
                ..evaluated
            });
        }
        mqtt.publish_monitor(&monitor, &summary, &device_model(&summary));
        match store.queue_states(monitor.id, Vec::new(), seen).await {
            Err(e) if !e.is_disk_full() => return Err(e),
            _ => return Ok(evaluated),
        }
    }
    let states: Vec<(String, String)> = render(&monitor, &summary)
        .into_iter()
        .map(|(entity_id, state)| (entity_id, state.to_json()))
        .collect();
    match store.queue_states(monitor.id, states.clone(), seen).await {
        Ok(changed) if changed > 0 => {
            tracing::debug!(monitor = %monitor.key, status = %summary.status, changed, "entities queued");
        }
        Ok(_) => {}
        // Nothing can be written: Core is told directly, once (the outbox retries nothing).
        Err(e) if e.is_disk_full() => {
            for (entity_id, state) in &states {
                if let Err(e) = evaluator.client.set_state(entity_id, state).await {
                    tracing::warn!(entity_id, error = %crate::telemetry::ErrorChain(&e), "cannot tell Home Assistant that the disk is full");
                }
            }
        }
        Err(e) => return Err(e),
    }
    Ok(evaluated)
}

/// What the MQTT device page says reports to the monitor: "Duplicati reports".
fn device_model(summary: &MonitorSummary) -> String {
    let sender = summary
        .recent
        .first()
        .or(summary.sources.first())
        .map(|e| e.event.sender());
    match sender {
        Some(sender) => format!("{} reports", crate::senders::display_name(sender)),
        None => "Backup reports".to_owned(),
    }
}

fn until(at: Timestamp) -> Duration {
    let millis = at.duration_since(Timestamp::now()).as_millis().max(0) as u64;
    Duration::from_millis(millis + 5).min(Duration::from_secs(3600))
}

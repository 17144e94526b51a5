//! Keeps Home Assistant's states equal to ours.
//!
//! Four tasks: the evaluator works out each monitor's entities when something arrives
//! and when a deadline passes (overdue), and writes them to the outbox in SQLite; the
//! pusher delivers the outbox to Core with backoff; the websocket watcher and, as a
//! fallback, a once-a-minute check notice Core restarting (it forgets API-set states) and
//! have everything pushed again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::pusher::{Pusher, Wake, reconcile};
use super::watch::{watch_core, websocket_url};
use super::{CoreClient, render};
use crate::config::CoreSettings;
use crate::domain::MonitorSummary;
use crate::store::{Store, StoreError};

/// The handle the rest of the app uses to say what changed.
#[derive(Clone)]
pub struct Publisher {
    /// Wakes the evaluator; `None` when pushes are off.
    evaluator: Option<Arc<Notify>>,
    wake: Arc<Wake>,
}

impl Publisher {
    /// Pushes nothing (no Home Assistant configured).
    pub fn disabled() -> Self {
        Self {
            evaluator: None,
            wake: Arc::default(),
        }
    }

    /// Starts the evaluator, pusher and reconciler. Everything is pushed once at start:
    /// Core may have restarted while the add-on was stopped.
    pub fn start(
        store: Store,
        client: CoreClient,
        core: &CoreSettings,
        reconcile_every: Duration,
    ) -> Self {
        let evaluator = Arc::new(Notify::new());
        let wake = Arc::new(Wake::default());
        tokio::spawn(evaluate_monitors(
            store.clone(),
            Arc::clone(&evaluator),
            Arc::clone(&wake),
        ));
        tokio::spawn(Pusher::new(store.clone(), client.clone(), Arc::clone(&wake)).run());
        match websocket_url(&core.url) {
            Some(url) => {
                tokio::spawn(watch_core(
                    url,
                    core.token.clone(),
                    store.clone(),
                    Arc::clone(&wake),
                ));
            }
            None => tracing::info!(
                "Home Assistant is reached over HTTPS: restarts are noticed by the periodic check"
            ),
        }
        tokio::spawn(reconcile(store, client, Arc::clone(&wake), reconcile_every));
        Self {
            evaluator: Some(evaluator),
            wake,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.evaluator.is_some()
    }

    /// A monitor was marked due in the store (an event, an edit): recompute. Cheap and
    /// callable from any thread (the store's writer calls it after a commit).
    pub fn entities_due(&self) {
        if let Some(evaluator) = &self.evaluator {
            evaluator.notify_one();
        }
    }

    /// The outbox changed directly (a monitor was deleted): deliver it.
    pub fn outbox_changed(&self) {
        self.wake.pusher.notify_one();
    }
}

/// Recomputes the monitors the store marks due, when woken and when a monitor's next
/// deadline passes (overdue, a run that takes too long); timers, not polling.
async fn evaluate_monitors(store: Store, due: Arc<Notify>, wake: Arc<Wake>) {
    let mut deadlines: HashMap<i64, Timestamp> = HashMap::new();
    if let Err(e) = store.mark_all_due().await {
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot mark the monitors for the start-up push");
    }
    if let Err(e) = store.forget_pushed().await {
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the start-up push");
    }
    let mut expired: Vec<i64> = Vec::new();
    loop {
        let mut todo: Vec<(i64, i64)> = match store.due_monitors().await {
            Ok(todo) => todo,
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read which monitors changed");
                Vec::new()
            }
        };
        for id in expired.drain(..) {
            if !todo.iter().any(|(m, _)| *m == id) {
                // Not changed, only late: nothing to clear.
                todo.push((id, -1));
            }
        }
        for (id, seen) in todo {
            match evaluate(&store, id, seen).await {
                Ok(Some(changes_at)) => {
                    deadlines.insert(id, changes_at);
                }
                Ok(None) => {
                    deadlines.remove(&id);
                }
                Err(e) => {
                    tracing::error!(monitor = id, error = %crate::telemetry::ErrorChain(&e), "cannot work out a monitor's state")
                }
            }
        }
        wake.pusher.notify_one();

        let sleep = deadlines
            .values()
            .min()
            .map(|next| until(*next))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            () = due.notified() => {}
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

/// Writes the monitor's entities to the outbox; returns when its status changes next.
async fn evaluate(store: &Store, id: i64, seen: i64) -> Result<Option<Timestamp>, StoreError> {
    let Some(monitor) = store.monitor_by_id(id).await? else {
        return Ok(None);
    };
    let runs = store
        .monitor_runs(monitor.id, monitor.history_limit.get())
        .await?;
    let summary = MonitorSummary::of(&monitor, runs);
    let states = render(&monitor, &summary)
        .into_iter()
        .map(|(entity_id, state)| (entity_id, state.to_json()))
        .collect();
    let changed = store.queue_states(monitor.id, states, seen).await?;
    if changed > 0 {
        tracing::debug!(monitor = %monitor.key, status = %summary.status, changed, "entities queued");
    }
    Ok(summary.changes_at)
}

/// How long to sleep until `at`; a little later, so the deadline has surely passed.
fn until(at: Timestamp) -> Duration {
    let millis = at.duration_since(Timestamp::now()).as_millis().max(0) as u64;
    Duration::from_millis(millis + 5).min(Duration::from_secs(3600))
}

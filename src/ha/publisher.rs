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
use tokio::sync::mpsc;

use super::pusher::{Pusher, Wake, reconcile};
use super::watch::{watch_core, websocket_url};
use super::{CoreClient, render};
use crate::config::CoreSettings;
use crate::domain::MonitorKey;
use crate::status::MonitorSummary;
use crate::store::{Store, StoreError};

/// The handle the rest of the app uses to say what changed.
#[derive(Clone)]
pub struct Publisher {
    changes: Option<mpsc::UnboundedSender<MonitorKey>>,
    wake: Arc<Wake>,
}

impl Publisher {
    /// Pushes nothing (no Home Assistant configured).
    pub fn disabled() -> Self {
        Self {
            changes: None,
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
        let (changes, queue) = mpsc::unbounded_channel();
        let wake = Arc::new(Wake::default());
        tokio::spawn(evaluate_monitors(store.clone(), queue, Arc::clone(&wake)));
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
            changes: Some(changes),
            wake,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.changes.is_some()
    }

    /// Something about this monitor changed (an event, an edit): recompute its entities.
    pub fn monitor_changed(&self, key: &MonitorKey) {
        if let Some(changes) = &self.changes {
            let _ = changes.send(key.clone());
        }
    }

    /// The outbox changed directly (a monitor was deleted): deliver it.
    pub fn outbox_changed(&self) {
        self.wake.pusher.notify_one();
    }
}

/// Recomputes monitors when told to and when their next deadline passes; timers, not polling.
async fn evaluate_monitors(
    store: Store,
    mut queue: mpsc::UnboundedReceiver<MonitorKey>,
    wake: Arc<Wake>,
) {
    let mut deadlines: HashMap<MonitorKey, Timestamp> = HashMap::new();
    let mut due: Vec<MonitorKey> = match store.monitors().await {
        Ok(monitors) => monitors.into_iter().map(|m| m.key).collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot list monitors");
            Vec::new()
        }
    };
    if let Err(e) = store.forget_pushed().await {
        tracing::error!(error = %e, "cannot queue the start-up push");
    }
    loop {
        for key in due.drain(..) {
            match evaluate(&store, &key).await {
                Ok(Some(changes_at)) => {
                    deadlines.insert(key, changes_at);
                }
                Ok(None) => {
                    deadlines.remove(&key);
                }
                Err(e) => {
                    tracing::error!(monitor = %key, error = %e, "cannot work out a monitor's state")
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
            received = queue.recv() => match received {
                Some(key) => {
                    due.push(key);
                    while let Ok(key) = queue.try_recv() {
                        if !due.contains(&key) {
                            due.push(key);
                        }
                    }
                }
                None => return,
            },
            () = tokio::time::sleep(sleep) => {
                let now = Timestamp::now();
                deadlines.retain(|key, at| {
                    if *at <= now {
                        due.push(key.clone());
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
async fn evaluate(store: &Store, key: &MonitorKey) -> Result<Option<Timestamp>, StoreError> {
    let Some(monitor) = store.monitor_by_key(key).await? else {
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
    let changed = store.queue_states(monitor.id, states).await?;
    if changed > 0 {
        tracing::debug!(monitor = %key, status = %summary.status, changed, "entities queued");
    }
    Ok(summary.changes_at)
}

/// How long to sleep until `at`; a little later, so the deadline has surely passed.
fn until(at: Timestamp) -> Duration {
    let millis = at.duration_since(Timestamp::now()).as_millis().max(0) as u64;
    Duration::from_millis(millis + 5).min(Duration::from_secs(3600))
}

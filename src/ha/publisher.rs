//! Keeps Home Assistant's states equal to ours: every change is queued, pushed, and retried
//! with exponential backoff while Core is away. Webhooks never wait for it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{CoreClient, HaError, main_sensor};
use crate::domain::MonitorKey;
use crate::status::MonitorSummary;
use crate::store::Store;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The last push of one monitor's entities, for the panel and the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushStatus {
    /// A change is waiting to be pushed.
    pub pending: bool,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
}

/// The handle the rest of the app uses: say what changed, read how pushes went.
#[derive(Clone)]
pub struct Publisher {
    changes: Option<mpsc::UnboundedSender<MonitorKey>>,
    statuses: Arc<RwLock<HashMap<MonitorKey, PushStatus>>>,
}

impl Publisher {
    /// A publisher that pushes nothing (no Home Assistant configured).
    pub fn disabled() -> Self {
        Self {
            changes: None,
            statuses: Arc::default(),
        }
    }

    /// Starts pushing to Core; every existing monitor is pushed once at start, since Core
    /// forgets API-set states when it restarts.
    pub fn start(store: Store, client: CoreClient) -> Self {
        let (changes, queue) = mpsc::unbounded_channel();
        let publisher = Self {
            changes: Some(changes),
            statuses: Arc::default(),
        };
        let worker = Worker {
            store,
            client,
            statuses: Arc::clone(&publisher.statuses),
            core_down: false,
        };
        tokio::spawn(worker.run(queue));
        publisher
    }

    pub fn is_enabled(&self) -> bool {
        self.changes.is_some()
    }

    /// Queues a push of this monitor's entities.
    pub fn monitor_changed(&self, key: &MonitorKey) {
        if let Some(changes) = &self.changes {
            self.update(key, |s| s.pending = true);
            let _ = changes.send(key.clone());
        }
    }

    pub fn status(&self, key: &MonitorKey) -> PushStatus {
        self.statuses
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn update(&self, key: &MonitorKey, change: impl FnOnce(&mut PushStatus)) {
        update(&self.statuses, key, change);
    }
}

fn update(
    statuses: &RwLock<HashMap<MonitorKey, PushStatus>>,
    key: &MonitorKey,
    change: impl FnOnce(&mut PushStatus),
) {
    let mut statuses = statuses.write().unwrap_or_else(|p| p.into_inner());
    change(statuses.entry(key.clone()).or_default());
}

struct Worker {
    store: Store,
    client: CoreClient,
    statuses: Arc<RwLock<HashMap<MonitorKey, PushStatus>>>,
    core_down: bool,
}

impl Worker {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<MonitorKey>) {
        let mut pending: BTreeSet<MonitorKey> = match self.store.monitors().await {
            Ok(monitors) => monitors.into_iter().map(|m| m.key).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot list monitors to push at start");
                BTreeSet::new()
            }
        };
        for key in &pending {
            update(&self.statuses, key, |s| s.pending = true);
        }
        let mut delay = FIRST_RETRY;
        loop {
            if pending.is_empty() {
                match queue.recv().await {
                    Some(key) => {
                        pending.insert(key);
                    }
                    None => return,
                }
            }
            while let Ok(key) = queue.try_recv() {
                pending.insert(key);
            }
            let mut failed = false;
            for key in pending.clone() {
                match self.push(&key).await {
                    Ok(()) => {
                        pending.remove(&key);
                    }
                    Err(error) => {
                        failed = true;
                        let unavailable = matches!(error, HaError::Unavailable(_));
                        update(&self.statuses, &key, |s| {
                            s.last_error = Some(error.to_string());
                            s.last_error_at = Some(Timestamp::now());
                        });
                        if unavailable {
                            // Core is away: the others would fail the same way.
                            break;
                        }
                    }
                }
            }
            if failed {
                tokio::time::sleep(with_jitter(delay)).await;
                delay = (delay * 2).min(MAX_RETRY);
            } else {
                delay = FIRST_RETRY;
            }
        }
    }

    async fn push(&mut self, key: &MonitorKey) -> Result<(), HaError> {
        let monitor = match self.store.monitor_by_key(key).await {
            Ok(Some(monitor)) => monitor,
            Ok(None) => {
                self.statuses
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(key);
                return Ok(());
            }
            Err(e) => {
                return Err(HaError::Rejected {
                    status: 0,
                    message: format!("cannot read the monitor: {e}"),
                });
            }
        };
        let runs = self
            .store
            .monitor_runs(monitor.id, monitor.history_limit.get())
            .await
            .map_err(|e| HaError::Rejected {
                status: 0,
                message: format!("cannot read the history: {e}"),
            })?;
        let summary = MonitorSummary::compute(runs);
        let (entity_id, state) = main_sensor(&monitor, &summary);
        match self.client.set_state(&entity_id, &state).await {
            Ok(()) => {
                if self.core_down {
                    tracing::info!("Home Assistant is reachable again; pushing pending states");
                    self.core_down = false;
                }
                tracing::debug!(entity_id, state = state.state, "pushed");
                update(&self.statuses, key, |s| {
                    s.pending = false;
                    s.last_success_at = Some(Timestamp::now());
                    s.last_error = None;
                });
                Ok(())
            }
            Err(error @ HaError::Unavailable(_)) => {
                if !self.core_down {
                    tracing::warn!(%error, "Home Assistant is not reachable (restarting?); will retry with backoff");
                    self.core_down = true;
                }
                Err(error)
            }
            Err(error) => {
                tracing::error!(entity_id, %error, "Home Assistant rejected a state");
                Err(error)
            }
        }
    }
}

/// Adds up to a quarter of random delay so many add-ons do not retry in lockstep.
fn with_jitter(delay: Duration) -> Duration {
    let spread = (delay.as_millis() as u64 / 4).max(1);
    let random = getrandom::u64().unwrap_or(0) % spread;
    delay + Duration::from_millis(random)
}

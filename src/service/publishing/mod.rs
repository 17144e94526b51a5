//! What Home Assistant is shown, and keeping it so. The adapters that talk to Home
//! Assistant are in `ha`; deciding what to publish, and recording it, is here.
//!
//! Four tasks: the evaluator ([`evaluator`]) works out each monitor's entities when
//! something arrives and when a deadline passes (overdue), and writes them to the outbox in
//! SQLite or publishes them over MQTT; the outbox ([`outbox`]) delivers states, Core events
//! and persistent notifications with backoff; the websocket watcher (`ha::watch`) and, as a
//! fallback, a once-a-minute check ([`reconciler`]) notice Core restarting (it forgets
//! API-set states) and have everything pushed again.

mod evaluator;
mod notices;
mod outbox;
mod reconciler;
mod storage;

pub use storage::StorageHealth;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::CoreSettings;
use crate::ha::CoreClient;
pub use crate::ha::catalogue::EntitiesPath;
use crate::ha::mqtt::{LinkStatus, Mqtt, MqttSetup};
use crate::ha::socket::EventSocket;
use crate::ha::watch::{watch_core, websocket_url};
use crate::store::Store;
pub use notices::{notification_id, problem_notice};
use outbox::{Outbox, Wake};

/// How long the evaluator waits after a change before working out the entities.
const EVALUATION_SETTLE: Duration = Duration::from_millis(20);

/// The handle the rest of the app uses to say what changed.
#[derive(Clone)]
pub struct Publisher {
    /// Wakes the evaluator; `None` when pushes are off.
    evaluator: Option<Arc<Notify>>,
    wake: Arc<Wake>,
    /// Entities go through MQTT discovery (else Core's REST states).
    mqtt: Option<Arc<Mqtt>>,
    storage: Arc<StorageHealth>,
    /// Monitors to work out again that the store cannot mark due (the disk is full).
    also_due: Arc<Mutex<Vec<i64>>>,
    /// Its background tasks, ended by [`Publisher::stop`] (Home Assistant's connection
    /// handed over again, or taken back, by the integration).
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// What the evaluator needs beyond the store: the zone rhythms are learned in, and the
/// problem notifications option.
#[derive(Debug, Clone)]
pub struct Alerting {
    pub zone: jiff::tz::TimeZone,
    /// Create a persistent notification while a monitor has a problem.
    pub notify: bool,
    /// A link to the add-on's panel (my.home-assistant.io's ingress redirect), for messages.
    pub panel: Option<String>,
}

/// Which way a monitor's entities reach Home Assistant, and how that is going.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntitiesStatus {
    pub path: EntitiesPath,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<LinkStatus>,
}

impl Publisher {
    /// Pushes nothing (no Home Assistant configured).
    pub fn disabled() -> Self {
        Self {
            evaluator: None,
            wake: Arc::default(),
            mqtt: None,
            storage: Arc::default(),
            also_due: Arc::default(),
            tasks: Arc::default(),
        }
    }

    /// Starts the evaluator, pusher and reconciler. Everything is pushed once at start:
    /// Core may have restarted while the add-on was stopped. With a `broker`, entities go
    /// through MQTT discovery and the REST states of earlier runs are removed from Core.
    pub fn start(
        store: Store,
        client: CoreClient,
        core: &CoreSettings,
        reconcile_every: Duration,
        mqtt: Option<MqttSetup>,
        alerting: Alerting,
    ) -> Self {
        let evaluator = Arc::new(Notify::new());
        let wake = Arc::new(Wake::default());
        let mqtt = mqtt.map(|setup| {
            let (store, evaluator) = (store.clone(), Arc::clone(&evaluator));
            Mqtt::start(setup, move || {
                let (store, evaluator) = (store.clone(), Arc::clone(&evaluator));
                tokio::spawn(async move {
                    if let Err(e) = store.mark_all_due().await {
                        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot mark the monitors for publishing");
                    }
                    evaluator.notify_one();
                });
            })
        });
        let storage = Arc::<StorageHealth>::default();
        let also_due = Arc::<Mutex<Vec<i64>>>::default();
        let mut tasks = Vec::new();
        let evaluating = tokio::spawn(evaluator::evaluate_monitors(
            evaluator::Evaluator {
                store: store.clone(),
                client: client.clone(),
                mqtt: mqtt.clone(),
                alerting,
                storage: Arc::clone(&storage),
                also_due: Arc::clone(&also_due),
            },
            Arc::clone(&evaluator),
            Arc::clone(&wake),
        ));
        tasks.push(evaluating.abort_handle());
        let delivering = tokio::spawn(
            Outbox::new(
                store.clone(),
                client.clone(),
                websocket_url(&core.url).map(|url| EventSocket::new(url, core.token.clone())),
                Arc::clone(&wake),
                mqtt.clone(),
            )
            .run(),
        );
        tasks.push(delivering.abort_handle());
        match websocket_url(&core.url) {
            Some(url) => {
                let (store, wake) = (store.clone(), Arc::clone(&wake));
                let watching = tokio::spawn(watch_core(url, core.token.clone(), move |why| {
                    let (store, wake) = (store.clone(), Arc::clone(&wake));
                    async move { outbox::push_everything_again(&store, &wake, why).await }
                }));
                tasks.push(watching.abort_handle());
            }
            None => tracing::info!(
                "Home Assistant is reached over HTTPS: restarts are noticed by the periodic check"
            ),
        }
        let reconciling = tokio::spawn(reconciler::reconcile(
            store,
            client,
            Arc::clone(&wake),
            reconcile_every,
        ));
        tasks.push(reconciling.abort_handle());
        Self {
            evaluator: Some(evaluator),
            wake,
            mqtt,
            storage,
            also_due,
            tasks: Arc::new(Mutex::new(tasks)),
        }
    }

    /// Ends its background tasks (and the MQTT connection): another publisher takes over.
    pub fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        if let Some(mqtt) = &self.mqtt {
            mqtt.stop();
        }
    }

    /// Which way entities go, and the broker connection's state.
    pub fn entities_status(&self) -> EntitiesStatus {
        EntitiesStatus {
            path: match (&self.evaluator, &self.mqtt) {
                (None, _) => EntitiesPath::Off,
                (Some(_), Some(_)) => EntitiesPath::Mqtt,
                (Some(_), None) => EntitiesPath::Rest,
            },
            mqtt: self.mqtt.as_ref().map(|m| m.status()),
        }
    }

    /// A monitor was deleted: over MQTT its device goes (REST states go through the outbox).
    pub fn monitor_deleted(&self, monitor_id: i64, key: &crate::domain::MonitorKey) {
        self.wake.pusher.notify_one();
        if let Some(mqtt) = &self.mqtt {
            mqtt.remove_monitor(monitor_id, key);
        }
        // The overview counts it no more.
        self.reevaluate(vec![monitor_id]);
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

    /// Which monitors lost reports to a full disk.
    pub fn storage(&self) -> &StorageHealth {
        &self.storage
    }

    /// Works these monitors out again though the store could not mark them due.
    pub fn reevaluate(&self, monitor_ids: Vec<i64>) {
        if monitor_ids.is_empty() {
            return;
        }
        self.also_due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(monitor_ids);
        self.entities_due();
    }

    /// The outbox changed directly (a monitor was deleted): deliver it.
    pub fn outbox_changed(&self) {
        self.wake.pusher.notify_one();
    }
}

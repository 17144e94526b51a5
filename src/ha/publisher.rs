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

use super::mqtt::{Mqtt, MqttSetup};
use super::pusher::{Pusher, Wake, reconcile};
use super::socket::EventSocket;
use super::watch::{watch_core, websocket_url};
use super::{CoreClient, notification_id, problem_notice, render};
use crate::config::CoreSettings;
use crate::domain::MonitorSummary;
use crate::store::{Store, StoreError};

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
    /// `mqtt`, `rest`, or `off` (no Home Assistant to push to).
    pub path: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<super::mqtt::LinkStatus>,
}

impl Publisher {
    /// Pushes nothing (no Home Assistant configured).
    pub fn disabled() -> Self {
        Self {
            evaluator: None,
            wake: Arc::default(),
            mqtt: None,
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
        tokio::spawn(evaluate_monitors(
            store.clone(),
            Arc::clone(&evaluator),
            Arc::clone(&wake),
            mqtt.clone(),
            alerting,
        ));
        tokio::spawn(
            Pusher::new(
                store.clone(),
                client.clone(),
                websocket_url(&core.url).map(|url| EventSocket::new(url, core.token.clone())),
                Arc::clone(&wake),
                mqtt.clone(),
            )
            .run(),
        );
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
            mqtt,
        }
    }

    /// Which way entities go, and the broker connection's state.
    pub fn entities_status(&self) -> EntitiesStatus {
        EntitiesStatus {
            path: match (&self.evaluator, &self.mqtt) {
                (None, _) => "off",
                (Some(_), Some(_)) => "mqtt",
                (Some(_), None) => "rest",
            },
            mqtt: self.mqtt.as_ref().map(|m| m.status()),
        }
    }

    /// A monitor was deleted: over MQTT its device goes (REST states go through the outbox).
    pub fn monitor_deleted(&self, monitor_id: i64, key: &crate::domain::MonitorKey) {
        self.wake.pusher.notify_one();
        if let Some(mqtt) = &self.mqtt {
            let (mqtt, key) = (Arc::clone(mqtt), key.clone());
            tokio::spawn(async move { mqtt.remove_monitor(monitor_id, &key).await });
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
async fn evaluate_monitors(
    store: Store,
    due: Arc<Notify>,
    wake: Arc<Wake>,
    mqtt: Option<Arc<Mqtt>>,
    alerting: Alerting,
) {
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
            match evaluate(&store, id, seen, mqtt.as_deref(), &alerting).await {
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

/// Writes the monitor's entities to the outbox (REST) or publishes them (MQTT); returns when
/// its status changes next.
async fn evaluate(
    store: &Store,
    id: i64,
    seen: i64,
    mqtt: Option<&Mqtt>,
    alerting: &Alerting,
) -> Result<Option<Timestamp>, StoreError> {
    let Some(monitor) = store.monitor_by_id(id).await? else {
        return Ok(None);
    };
    let runs = store
        .monitor_runs(monitor.id, monitor.history_limit.get())
        .await?;
    let summary = MonitorSummary::of(&monitor, runs, &alerting.zone);
    if alerting.notify {
        let notice = problem_notice(&monitor, &summary, alerting.panel.as_deref());
        store
            .want_notification(monitor.id, notification_id(&monitor), notice)
            .await?;
    }
    if let Some(mqtt) = mqtt {
        if store.removals_pending(monitor.id).await? {
            // The old REST states still hold the entity IDs: look again in a moment.
            return Ok(Some(Timestamp::now() + jiff::SignedDuration::from_secs(1)));
        }
        mqtt.publish_monitor(&monitor, &summary).await;
        store.queue_states(monitor.id, Vec::new(), seen).await?;
        return Ok(summary.changes_at);
    }
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

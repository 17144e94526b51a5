//! Delivers the outbox to Core: entity states, Core events (over the websocket when there is
//! one) and persistent notifications, each with its own backoff; Core unreachable as a
//! whole stops the round and backs off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use crate::ha::mqtt::Mqtt;
use crate::ha::socket::EventSocket;
use crate::ha::{CoreClient, EVENT_TYPE, HaError, event_data};
use crate::store::{
    CoreEventRef, CoreEventSubject, DueCoreEvent, DueNotification, DueState, Store, StoreError,
};
use crate::telemetry::ErrorChain;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(300);
const BATCH: usize = 100;

/// Shared between the tasks: wake the pusher, and tell it Core is back (retry at once).
#[derive(Default)]
pub struct Wake {
    pub pusher: Notify,
    pub core_back: AtomicBool,
}

pub struct Outbox {
    store: Store,
    client: CoreClient,
    /// Core events go over the websocket when there is one (many per write), else REST.
    socket: Option<EventSocket>,
    wake: Arc<Wake>,
    /// Runs also fire the monitor's MQTT event entity.
    mqtt: Option<Arc<Mqtt>>,
    /// Delay before the next try while Core is unreachable; doubles up to five minutes.
    delay: Duration,
    core_down: bool,
}

/// How one kind of delivery in a round went.
enum Step {
    Delivered,
    /// Core is unreachable: stop the round.
    CoreDown,
    /// The store could not be read or updated (logged): stop the round.
    StoreFailed,
}

enum Round {
    /// Everything due was delivered (or failed for reasons of its own).
    Done,
    /// Core is unreachable; try again after the backoff delay.
    CoreDown,
}

impl Outbox {
    pub fn new(
        store: Store,
        client: CoreClient,
        socket: Option<EventSocket>,
        wake: Arc<Wake>,
        mqtt: Option<Arc<Mqtt>>,
    ) -> Self {
        Self {
            store,
            client,
            socket,
            wake,
            mqtt,
            delay: FIRST_RETRY,
            core_down: false,
        }
    }

    pub async fn run(mut self) {
        loop {
            let (sleep, core_down) = match self.round().await {
                Round::Done => {
                    self.delay = FIRST_RETRY;
                    let sleep = match self.store.next_retry_at().await {
                        Ok(Some(at)) => until(at),
                        Ok(None) => Duration::from_secs(3600),
                        Err(e) => {
                            tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read the outbox");
                            MAX_RETRY
                        }
                    };
                    (sleep, false)
                }
                Round::CoreDown => {
                    let sleep = with_jitter(self.delay);
                    self.delay = (self.delay * 2).min(MAX_RETRY);
                    (sleep, true)
                }
            };
            let retry_at = tokio::time::Instant::now() + sleep;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(retry_at) => break,
                    () = self.wake.pusher.notified() => {}
                }
                if self.wake.core_back.swap(false, Ordering::SeqCst) {
                    self.delay = FIRST_RETRY;
                    break;
                }
                // New work while Core is away waits for the retry already planned: trying
                // at once would fail again and stretch the backoff for nothing.
                if !core_down {
                    break;
                }
            }
        }
    }

    /// Delivers what is due, batch after batch, until nothing is.
    async fn round(&mut self) -> Round {
        loop {
            let now = Timestamp::now();
            let states = self.read("the outbox", self.store.due_states(now, BATCH).await);
            let events = self.read(
                "queued Home Assistant events",
                self.store.due_core_events(now, BATCH).await,
            );
            let notifications = self.read(
                "queued notifications",
                self.store.due_notifications(now, BATCH).await,
            );
            let (Some(states), Some(events), Some(notifications)) = (states, events, notifications)
            else {
                return Round::Done;
            };
            if states.is_empty() && events.is_empty() && notifications.is_empty() {
                return Round::Done;
            }
            let mut step = self.push_states(states).await;
            if let Step::Delivered = step {
                step = self.fire_events(events).await;
            }
            if let Step::Delivered = step {
                step = self.send_notifications(notifications).await;
            }
            match step {
                Step::Delivered => {}
                Step::CoreDown => return Round::CoreDown,
                Step::StoreFailed => return Round::Done,
            }
        }
    }

    /// A batch read from the store, or `None` (logged) when that failed.
    fn read<T>(&self, what: &str, batch: Result<Vec<T>, StoreError>) -> Option<Vec<T>> {
        batch
            .inspect_err(|e| tracing::error!(error = %ErrorChain(e), "cannot read {what}"))
            .ok()
    }

    /// Entity states: set, or removed where none is wanted any more.
    async fn push_states(&mut self, states: Vec<DueState>) -> Step {
        for due in states {
            let result = match &due.desired {
                Some(state) => self.client.set_state(&due.entity_id, state).await,
                None => self.client.delete_state(&due.entity_id).await,
            };
            let outcome = match result {
                Ok(()) => {
                    self.store
                        .mark_pushed(due.entity_id.clone(), due.desired.clone(), due.epoch)
                        .await
                }
                Err(error) => {
                    if self.failed(&due.entity_id, &error) {
                        return Step::CoreDown;
                    }
                    let retry = Timestamp::now() + backoff(due.attempts);
                    let reason = ErrorChain(&error).to_string();
                    self.store
                        .mark_push_failed(due.entity_id.clone(), reason, retry)
                        .await
                }
            };
            if let Err(e) = outcome {
                tracing::error!(error = %ErrorChain(&e), "cannot update the outbox");
                return Step::StoreFailed;
            }
            self.reachable();
        }
        Step::Delivered
    }

    /// Core events, over the websocket when there is one; each run also fires the
    /// monitor's MQTT event entity, once, with the Core event that made it.
    async fn fire_events(&mut self, events: Vec<DueCoreEvent>) -> Step {
        let mut fired = Vec::new();
        let data: Vec<String> = events
            .iter()
            .map(|event| match &event.what {
                CoreEventSubject::Event {
                    monitor_key,
                    monitor_name,
                    event,
                } => event_data(monitor_key, monitor_name, event),
                CoreEventSubject::Rendered(data) => data.clone(),
            })
            .collect();
        let mut answers = self.fire_over_socket(&data).await.map(Vec::into_iter);
        for (event, data) in events.iter().zip(&data) {
            let answer = match answers.as_mut().and_then(Iterator::next) {
                Some(answer) => answer,
                None => self.client.fire_event(EVENT_TYPE, data).await,
            };
            let outcome = match answer {
                Ok(()) => {
                    if let (
                        Some(mqtt),
                        CoreEventSubject::Event {
                            monitor_key, event, ..
                        },
                    ) = (&self.mqtt, &event.what)
                    {
                        mqtt.fire_run(monitor_key, event).await;
                    }
                    fired.push(event.id);
                    Ok(())
                }
                Err(error) => {
                    if self.failed(EVENT_TYPE, &error) {
                        self.forget_fired(fired).await;
                        return Step::CoreDown;
                    }
                    self.store
                        .core_event_failed(event.id, Timestamp::now() + backoff(event.attempts))
                        .await
                }
            };
            if let Err(e) = outcome {
                tracing::error!(error = %ErrorChain(&e), "cannot update queued Home Assistant events");
                self.forget_fired(fired).await;
                return Step::StoreFailed;
            }
            self.reachable();
        }
        if self.forget_fired(fired).await {
            Step::Delivered
        } else {
            Step::StoreFailed
        }
    }

    /// Persistent notifications: created while a monitor has a problem, dismissed after.
    async fn send_notifications(&mut self, notifications: Vec<DueNotification>) -> Step {
        for due in notifications {
            let (service, data) = match &due.want {
                Some(notice) => (
                    "create",
                    serde_json::json!({
                        "notification_id": due.notification_id,
                        "title": notice.title,
                        "message": notice.message,
                    }),
                ),
                None => (
                    "dismiss",
                    serde_json::json!({ "notification_id": due.notification_id }),
                ),
            };
            let result = self
                .client
                .call_service("persistent_notification", service, &data)
                .await;
            let status = due.want.as_ref().map(|n| n.status.clone());
            let outcome = match result {
                Ok(()) => {
                    tracing::info!(notification = %due.notification_id, problem = ?status, "notification sent to Home Assistant");
                    self.store
                        .notification_delivered(due.notification_id, status)
                        .await
                }
                Err(error) => {
                    if self.failed("persistent_notification", &error) {
                        return Step::CoreDown;
                    }
                    self.store
                        .notification_failed(
                            due.notification_id,
                            Timestamp::now() + backoff(due.attempts),
                        )
                        .await
                }
            };
            if let Err(e) = outcome {
                tracing::error!(error = %ErrorChain(&e), "cannot update queued notifications");
                return Step::StoreFailed;
            }
            self.reachable();
        }
        Step::Delivered
    }

    /// The batch's answers from Core's websocket, or `None` to fire them over REST (no
    /// websocket, or it failed: some of the batch may then reach Core twice, as after a
    /// REST request that timed out; the queue delivers at least once).
    async fn fire_over_socket(&mut self, data: &[String]) -> Option<Vec<Result<(), HaError>>> {
        let socket = self.socket.as_mut()?;
        if data.is_empty() {
            return None;
        }
        match socket.fire_all(EVENT_TYPE, data).await {
            Ok(answers) => Some(answers),
            Err(e) => {
                tracing::debug!(error = %ErrorChain(&e), "firing Home Assistant events over REST this time");
                None
            }
        }
    }

    /// Removes the events Core took from the queue; `false` if that failed (logged).
    async fn forget_fired(&self, fired: Vec<CoreEventRef>) -> bool {
        match self.store.core_events_fired(fired).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot update queued Home Assistant events");
                false
            }
        }
    }

    /// Logs a failure; returns whether Core as a whole is unreachable (then stop the round).
    fn failed(&mut self, what: &str, error: &HaError) -> bool {
        if error.is_unavailable() {
            if !self.core_down {
                tracing::warn!(error = %ErrorChain(error), "Home Assistant is not reachable (restarting?); retrying with backoff");
                self.core_down = true;
            }
            return true;
        }
        tracing::error!(what, error = %ErrorChain(error), "Home Assistant refused an update; it will be retried");
        false
    }

    fn reachable(&mut self) {
        if self.core_down {
            tracing::info!("Home Assistant is reachable again; delivering queued updates");
            self.core_down = false;
        }
    }
}

/// Core (re)started, or its websocket came back: Core forgot the states the API set, so
/// everything is pushed again at once.
pub(super) async fn push_everything_again(store: &Store, wake: &Wake, why: &str) {
    tracing::info!("{why}: pushing every entity again");
    if let Err(e) = store.forget_pushed().await {
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the re-push");
    }
    wake.core_back.store(true, Ordering::SeqCst);
    wake.pusher.notify_one();
}

/// Per-entity retry delay after Core refused it: 1 s doubling, at most five minutes.
fn backoff(attempts: i64) -> SignedDuration {
    let secs = 1i64 << attempts.clamp(0, 9);
    SignedDuration::from_secs(secs.min(MAX_RETRY.as_secs() as i64))
}

fn until(at: Timestamp) -> Duration {
    let millis = at.duration_since(Timestamp::now()).as_millis().max(0) as u64;
    Duration::from_millis(millis).min(Duration::from_secs(3600))
}

/// Adds up to a quarter of random delay so retries do not run in lockstep.
fn with_jitter(delay: Duration) -> Duration {
    let spread = (delay.as_millis() as u64 / 4).max(1);
    let random = getrandom::u64().unwrap_or(0) % spread;
    delay + Duration::from_millis(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let secs: Vec<i64> = (0..12).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_secs(8));
            assert!(
                d >= Duration::from_secs(8) && d < Duration::from_secs(10),
                "{d:?}"
            );
        }
    }
}

//! Delivers the outbox to Core, and notices when Core has forgotten it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::socket::EventSocket;
use super::{CoreClient, EVENT_TYPE, HaError, event_data};
use crate::store::{CoreEventSubject, Store};
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

pub struct Pusher {
    store: Store,
    client: CoreClient,
    /// Core events go over the websocket when there is one (many per write), else REST.
    socket: Option<EventSocket>,
    wake: Arc<Wake>,
    /// Runs also fire the monitor's MQTT event entity.
    mqtt: Option<Arc<super::mqtt::Mqtt>>,
    /// Delay before the next try while Core is unreachable; doubles up to five minutes.
    delay: Duration,
    core_down: bool,
}

enum Round {
    /// Everything due was delivered (or failed for reasons of its own).
    Done,
    /// Core is unreachable; try again after the backoff delay.
    CoreDown,
}

impl Pusher {
    pub fn new(
        store: Store,
        client: CoreClient,
        socket: Option<EventSocket>,
        wake: Arc<Wake>,
        mqtt: Option<Arc<super::mqtt::Mqtt>>,
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

    async fn round(&mut self) -> Round {
        loop {
            let now = Timestamp::now();
            let states = match self.store.due_states(now, BATCH).await {
                Ok(states) => states,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read the outbox");
                    return Round::Done;
                }
            };
            let events = match self.store.due_core_events(now, BATCH).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read queued Home Assistant events");
                    Vec::new()
                }
            };
            let notifications = match self.store.due_notifications(now, BATCH).await {
                Ok(notifications) => notifications,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read queued notifications");
                    Vec::new()
                }
            };
            if states.is_empty() && events.is_empty() && notifications.is_empty() {
                return Round::Done;
            }
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
                            return Round::CoreDown;
                        }
                        let retry = Timestamp::now() + backoff(due.attempts);
                        let reason = ErrorChain(&error).to_string();
                        self.store
                            .mark_push_failed(due.entity_id.clone(), reason, retry)
                            .await
                    }
                };
                if let Err(e) = outcome {
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot update the outbox");
                    return Round::Done;
                }
                self.reachable();
            }
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
                        // The event entity fires once, with the Core event that made it.
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
                            return Round::CoreDown;
                        }
                        self.store
                            .core_event_failed(event.id, Timestamp::now() + backoff(event.attempts))
                            .await
                    }
                };
                if let Err(e) = outcome {
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot update queued Home Assistant events");
                    self.forget_fired(fired).await;
                    return Round::Done;
                }
                self.reachable();
            }
            if !self.forget_fired(fired).await {
                return Round::Done;
            }
            for due in notifications {
                let result = match &due.want {
                    Some(notice) => {
                        let data = serde_json::json!({
                            "notification_id": due.notification_id,
                            "title": notice.title,
                            "message": notice.message,
                        });
                        self.client
                            .call_service("persistent_notification", "create", &data)
                            .await
                    }
                    None => {
                        let data = serde_json::json!({ "notification_id": due.notification_id });
                        self.client
                            .call_service("persistent_notification", "dismiss", &data)
                            .await
                    }
                };
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
                            return Round::CoreDown;
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
                    tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot update queued notifications");
                    return Round::Done;
                }
                self.reachable();
            }
        }
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
    async fn forget_fired(&self, fired: Vec<i64>) -> bool {
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

/// Every minute: does Core still have our main entities? A restart of Core forgets
/// them (404), so everything is pushed again. Coming back after being unreachable also
/// cuts the pusher's backoff short.
pub async fn reconcile(store: Store, client: CoreClient, wake: Arc<Wake>, period: Duration) {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut was_unreachable = false;
    loop {
        every.tick().await;
        if let Err(e) = store
            .drop_stale_core_events(Timestamp::now() - SignedDuration::from_hours(24))
            .await
        {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot drop stale Home Assistant events");
        }
        let entities = match store
            .pushed_main_entities(super::catalogue::main_entity_id)
            .await
        {
            Ok(entities) => entities,
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read the outbox");
                continue;
            }
        };
        let mut forgotten = false;
        let mut unreachable = false;
        for entity_id in &entities {
            match client.has_state(entity_id).await {
                Ok(true) => {}
                Ok(false) => {
                    forgotten = true;
                    break;
                }
                Err(e) if e.is_unavailable() => {
                    unreachable = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(entity_id, error = %crate::telemetry::ErrorChain(&e), "cannot check an entity in Home Assistant");
                    break;
                }
            }
        }
        if forgotten {
            tracing::info!(
                "Home Assistant has lost the add-on's entities (it restarted); pushing them again"
            );
            if let Err(e) = store.forget_pushed().await {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot queue the re-push");
            }
        }
        if forgotten || (was_unreachable && !unreachable) {
            wake.core_back.store(true, Ordering::SeqCst);
            wake.pusher.notify_one();
        }
        was_unreachable = unreachable;
    }
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

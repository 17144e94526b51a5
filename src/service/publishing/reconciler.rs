//! The fallback for a Core restart the websocket did not tell: every minute, does Core still
//! have the add-on's main entities?

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::outbox::Wake;
use crate::ha::CoreClient;
use crate::ha::catalogue::main_entity_id;
use crate::store::Store;

/// Every minute: does Core still have our main entities? A restart of Core forgets
/// them (404), so everything is pushed again. Coming back after being unreachable also
/// cuts the pusher's backoff short.
pub(super) async fn reconcile(store: Store, client: CoreClient, wake: Arc<Wake>, period: Duration) {
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
        let entities = match store.pushed_main_entities(main_entity_id).await {
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

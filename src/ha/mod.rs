//! Home Assistant Core: a small typed REST client, the entities a monitor shows as, and
//! the tasks that keep Core's states equal to ours (an outbox in SQLite, delivered with
//! backoff, re-pushed when Core forgets).

pub mod catalogue;
mod client;
mod entities;
pub mod mqtt;
mod notify;
mod publisher;
mod pusher;
mod socket;
mod supervisor;
mod watch;

pub use catalogue::entity_ids;
pub use client::{CoreClient, HaError};
pub use entities::{EVENT_TYPE, EntityState, event_data, main_attributes, render};
pub use mqtt::MqttSetup;
pub use notify::{notification_id, problem_notice};
pub use publisher::{Alerting, EntitiesStatus, Publisher};
pub use supervisor::{SupervisorClient, WebhookAddress};

//! Home Assistant's adapters: Core's REST client and websocket, MQTT discovery, the
//! Supervisor's API, and the entity catalogue with its renderings. What to show Home
//! Assistant, and when, is decided in `service::publishing`.

pub mod backups;
pub mod catalogue;
mod client;
mod entities;
pub mod mqtt;
pub mod socket;
mod supervisor;
pub mod watch;

pub use catalogue::entity_ids;
pub use client::{CoreClient, CoreConfig, HaError};
pub use entities::{
    EVENT_TYPE, EntityState, event_data, main_attributes, overview_attributes, render,
    render_overview,
};
pub use mqtt::MqttSetup;
pub use supervisor::{SupervisorClient, WebhookAddress};

//! Kopia Webhook Status: backup tools' webhooks in, Home Assistant entities out.
//!
//! Folders name the concerns: `domain` (parsed types), `senders` (one module per backup
//! tool), `signature`, `service` (use cases), `store` (SQLite), `ha` (Home Assistant), `web` (HTTP),
//! and `app` wires them together.

pub mod app;
pub mod config;
pub mod domain;
pub mod ha;
pub mod senders;
pub mod service;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod web;

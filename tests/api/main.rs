//! Integration tests: the real app on random ports, a real SQLite file in a temporary
//! directory, and a fake Home Assistant Core that records what it receives.

mod alerts;
mod bad_input;
mod clients;
mod entities;
mod heartbeat;
mod helpers;
mod integration;
#[path = "../support/kopia.rs"]
mod kopia;
mod monitors;
mod notifications;
mod panel;
mod senders;
mod slugs;
mod throttle;
mod truth;
mod webhooks;
mod wrong_urls;
#[allow(dead_code)]
#[path = "../support/ws_core.rs"]
mod ws_core;

//! Kopia Webhook Status: backup tools' webhooks in, Home Assistant entities out.

pub mod domain;
pub mod senders;
pub mod store;

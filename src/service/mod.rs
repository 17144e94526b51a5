//! Use cases: everything the add-on does when asked. HTTP handlers and pages parse what
//! came in, call one of these, and render the answer; nothing else calls the store.
//!
//! - `ingest`: a backup tool's delivery, from its webhook ID to the committed events.
//! - `monitors`: creating, changing, listing and deleting monitors, their history.
//! - `guard`: throttling where abuse is (unknown IDs, wrong signatures, floods) and the
//!   bounded record of refused requests.

mod guard;
mod ingest;
mod monitors;

use std::sync::Arc;

pub use ingest::{Caller, Receipt};
pub use monitors::{MonitorInput, MonitorPatch, MonitorView, TestOutcome};

use crate::config::Settings;
use crate::domain::ParseError;
use crate::ha::Publisher;
use crate::signature::SignatureError;
pub use crate::store::{EventPage, PushStatus, Rejection};
use crate::store::{Store, StoreError};

/// Why a use case did not do what was asked. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ParseError),
    #[error("no monitor is called {0:?}")]
    NoSuchMonitor(String),
    /// Also for malformed IDs: no hint whether an ID exists.
    #[error("not found")]
    UnknownWebhook,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unauthorized(#[from] SignatureError),
    #[error("too many requests; retry in {retry_after} s")]
    TooMany { retry_after: u64 },
    #[error("the add-on is busy storing other reports; retry in {retry_after} s")]
    Busy { retry_after: u64 },
    #[error("the database failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(reason) => Self::Conflict(reason),
            StoreError::Busy => Self::Busy { retry_after: 1 },
            other => Self::Store(other),
        }
    }
}

/// The use cases, with what they need. Cheap to share: handlers hold it in their state.
pub struct Service {
    store: Store,
    publisher: Publisher,
    settings: Arc<Settings>,
    guard: Arc<guard::Guard>,
}

impl Service {
    /// Must be called inside a tokio runtime: starts the task that writes summaries of
    /// refused floods once a minute.
    pub fn new(store: Store, publisher: Publisher, settings: Arc<Settings>) -> Self {
        let guard = Arc::new(guard::Guard::new(
            settings.rate_per_second,
            settings.rate_burst,
        ));
        tokio::spawn(guard::summarize_every_minute(
            Arc::clone(&guard),
            store.clone(),
        ));
        Self {
            store,
            publisher,
            settings,
            guard,
        }
    }

    /// Whether Home Assistant receives the entities (off in a local run without a token).
    pub fn pushes_enabled(&self) -> bool {
        self.publisher.is_enabled()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

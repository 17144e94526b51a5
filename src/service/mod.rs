//! Use cases: everything the add-on does when asked. HTTP handlers and pages parse what
//! came in, call one of these, and render the answer; nothing else calls the store.
//!
//! - `delivery`: a backup tool's request, however it arrived, from the monitor it names to
//!   the committed events.
//! - `monitors`: creating, changing, listing and deleting monitors, their history.
//! - `integration`: what the companion Home Assistant integration asks: the key it
//!   presents, Home Assistant's URLs, taking over the replaced integration's entries.
//! - `guard`: throttling where abuse is (unknown IDs, wrong signatures, floods) and the
//!   bounded record of refused requests.

mod core_backups;
mod delivery;
mod guard;
mod heartbeat;
mod integration;
mod monitors;
pub mod publishing;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use delivery::{Body, BodyError, Caller, Delivered, Locate, MAX_BODY, Request};
pub use guard::UnknownRequest;
pub use heartbeat::{HeartbeatSent, HeartbeatStatus, send_heartbeats};
pub use integration::{HomeAssistantUrls, LegacyEntry};
pub use monitors::{MonitorFields, MonitorSettings, MonitorView, TestOutcome};

use crate::config::Settings;
use crate::domain::ParseError;
use crate::signature::SignatureError;
pub use crate::store::{EventPage, PushStatus, Rejection};
use crate::store::{Store, StoreError};
use publishing::Publisher;

/// Why a use case did not do what was asked. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ParseError),
    #[error("no monitor is called {0:?}")]
    NoSuchMonitor(String),
    /// Also for malformed IDs: no hint whether an ID exists.
    #[error(
        "not found: no monitor has this webhook URL; copy it again from the add-on's panel in Home Assistant"
    )]
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
    #[error(
        "no application token: set the token to this monitor's webhook ID (Gotify's ?token=, X-Gotify-Key or Authorization: Bearer)"
    )]
    NoToken,
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body did not arrive within {secs} s")]
    SlowBody { secs: u64 },
    #[error("could not read the request body")]
    Body(#[source] delivery::BodyError),
    #[error(transparent)]
    Unreadable(#[from] crate::senders::SenderError),
    #[error(
        "the integration key is wrong: set up the Kopia Webhook Status integration again with the key the add-on's panel shows"
    )]
    WrongKey,
}

impl ServiceError {
    /// The HTTP status a sender gets for this (also what the panel's list of refused
    /// requests says it got).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownWebhook | Self::NoSuchMonitor(_) => 404,
            Self::Invalid(_) | Self::NoToken | Self::Body(_) | Self::Unreadable(_) => 400,
            Self::SlowBody { .. } => 408,
            Self::TooLarge { .. } => 413,
            Self::Conflict(_) => 409,
            Self::Unauthorized(_) | Self::WrongKey => 401,
            Self::TooMany { .. } => 429,
            Self::Busy { .. } | Self::Store(_) => 503,
        }
    }

    /// Seconds after which the sender may try again, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooMany { retry_after } | Self::Busy { retry_after } => Some(*retry_after),
            Self::Store(_) => Some(5),
            _ => None,
        }
    }
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

/// Starts publishing to the Home Assistant these settings reach.
pub type CoreStarter = Box<
    dyn Fn(crate::config::CoreSettings) -> futures_util::future::BoxFuture<'static, Publisher>
        + Send
        + Sync,
>;

/// The use cases, with what they need. Cheap to share: handlers hold it in their state.
pub struct Service {
    store: Store,
    /// Swapped when the integration hands over (or takes back) Home Assistant's connection.
    publisher: arc_swap::ArcSwap<Publisher>,
    /// Starts a publisher for a Home Assistant connection (the app's wiring knows how).
    core_starter: std::sync::OnceLock<CoreStarter>,
    settings: Arc<Settings>,
    guard: Arc<guard::Guard>,
    /// The add-on-wide key of slug URLs, read once (every slug ping asks for it).
    ping_key: std::sync::RwLock<Option<crate::domain::PingKey>>,
    /// Counts changes the panel shows (reports, edits): open pages wait on it and update
    /// themselves.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    integration: integration::IntegrationLink,
    stopping: AtomicBool,
    /// The last ping to the heartbeat URL, if one is set.
    heartbeat: heartbeat::HeartbeatLog,
    core_backups: core_backups::CoreBackupsState,
    /// The Home Assistant the add-on talks to now (its own settings', or the one the
    /// integration handed over).
    core: tokio::sync::watch::Sender<Option<Arc<crate::config::CoreSettings>>>,
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
        let core = tokio::sync::watch::Sender::new(settings.core.clone().map(Arc::new));
        Self {
            store,
            publisher: arc_swap::ArcSwap::from_pointee(publisher),
            core_starter: std::sync::OnceLock::new(),
            settings,
            guard,
            ping_key: std::sync::RwLock::new(None),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
            integration: integration::IntegrationLink::default(),
            stopping: AtomicBool::new(false),
            heartbeat: heartbeat::HeartbeatLog::default(),
            core_backups: core_backups::CoreBackupsState::default(),
            core,
        }
    }

    /// What pushes to Home Assistant now.
    fn publisher(&self) -> arc_swap::Guard<Arc<Publisher>> {
        self.publisher.load()
    }

    /// How to start publishing to a Home Assistant the integration names (set once, by the
    /// app's wiring).
    pub fn set_core_starter(&self, starter: CoreStarter) {
        let _ = self.core_starter.set(starter);
    }

    /// Something the panel shows changed. Cheap; callable from any thread.
    fn changed(&self) {
        self.changes.send_modify(|version| *version += 1);
    }

    /// The panel's change counter once it is past `since`, or as it is after `wait` (or
    /// at once when the add-on is stopping).
    pub async fn next_change(&self, since: u64, wait: std::time::Duration) -> u64 {
        let mut changes = self.changes.subscribe();
        let stopping = &self.stopping;
        let _ = tokio::time::timeout(
            wait,
            changes.wait_for(|version| *version != since || stopping.load(Ordering::SeqCst)),
        )
        .await;
        *changes.borrow()
    }

    /// Whether the add-on is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The add-on is stopping: requests waiting for a change are answered now.
    pub fn stop_waiting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.changed();
    }

    /// The ping key of slug URLs (`/ping/<ping key>/<slug>`), made at the first start.
    pub async fn ping_key(&self) -> Result<crate::domain::PingKey, ServiceError> {
        if let Some(key) = self
            .ping_key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(key);
        }
        let key = self.store.ping_key().await?;
        *self.ping_key.write().unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        Ok(key)
    }

    /// A new ping key: every slug URL with the old one stops working at once.
    pub async fn rotate_ping_key(&self) -> Result<crate::domain::PingKey, ServiceError> {
        let key = self.store.rotate_ping_key().await?;
        *self.ping_key.write().unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        tracing::info!(ping_key = %key.masked(), "ping key rotated");
        Ok(key)
    }

    /// Whether Home Assistant receives the entities (off in a local run without a token).
    pub fn pushes_enabled(&self) -> bool {
        self.publisher().is_enabled()
    }

    /// Which way entities reach Home Assistant (MQTT or REST) and how that is going.
    pub fn entities_status(&self) -> crate::service::publishing::EntitiesStatus {
        self.publisher().entities_status()
    }

    /// The Home Assistant the add-on talks to now; `None`: none.
    pub fn core(&self) -> Option<Arc<crate::config::CoreSettings>> {
        self.core.borrow().clone()
    }

    /// Follows which Home Assistant the add-on talks to (the integration hands it over, or
    /// takes it back): a receiver that sees each change, and nothing else.
    pub fn core_changes(
        &self,
    ) -> tokio::sync::watch::Receiver<Option<Arc<crate::config::CoreSettings>>> {
        self.core.subscribe()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

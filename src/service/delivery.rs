//! A backup tool's delivery, in one order for every way a report arrives (a URL of the
//! webhook port today, Home Assistant's own URL through the integration tomorrow):
//!
//! 1. find the monitor the URL, header or query names (unknown IDs count against the peer
//!    and never cause a write); a body that names it (ntfy's JSON) is read first, bounded
//!    per peer and in total;
//! 2. read the body within the size limit and a time limit;
//! 3. check the monitor's secret;
//! 4. read the body with the reader the URL calls for;
//! 5. store the events in one write job: pairing with its start, the events, each source's
//!    newest run, the Home Assistant events and marking the entities due are committed
//!    together or not at all; the answer waits for the commit.
//!
//! A known monitor's refused request (too large, wrong signature, unreadable, throttled)
//! is recorded for the panel with the status the sender got.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::{Service, ServiceError, guard};
use crate::domain::{BackupEvent, Monitor, MonitorName, NewMonitor, Slug, WebhookId};
use crate::senders::{self, Echo, Inbound, Reader};
use crate::signature;
use crate::store::{Delivery, Ingested};

/// Larger bodies get 413: reports are a few kilobytes, Duplicati's with logs well under this.
pub const MAX_BODY: usize = 1024 * 1024;

/// A body that has not arrived whole by then is given up (a client that trickles bytes
/// would otherwise hold its buffer for ever).
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// `?create=1` creates monitors only while there are fewer than this.
const MAX_MONITORS_BY_URL: usize = 200;

/// Who sent a request, and when it arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    pub peer: Option<IpAddr>,
    /// When the report reached Home Assistant, for one the integration held while the
    /// add-on was away; `None`: now.
    pub arrived: Option<Timestamp>,
}

impl Caller {
    pub fn from_peer(peer: Option<IpAddr>) -> Self {
        Self {
            peer,
            arrived: None,
        }
    }

    pub fn peer_text(&self) -> Option<String> {
        self.peer.map(|ip| ip.to_canonical().to_string())
    }
}

/// How a request names its monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locate<'a> {
    /// A webhook ID in the URL: `/api/webhook/<id>`, `/api/push/<id>`, an ntfy topic.
    Id(&'a str),
    /// `/api/webhook/<ping key>/<slug>`; `?create=1` makes the monitor on its first report.
    Slug { key: &'a str, slug: &'a str },
    /// `/ping/<a>[/<b>[/<c>]]`: an ID and a signal, or the ping key, a slug and a signal.
    /// The ping key decides, as Healthchecks does; the signal goes to the ping reader.
    Ping(&'a str, Option<&'a str>, Option<&'a str>),
    /// ntfy's JSON publishing: the topic is in the body.
    BodyTopic,
    /// Gotify's application token: `?token=`, `X-Gotify-Key` or a bearer token.
    GotifyToken,
}

/// Where a request's body comes from: the HTTP listener's stream, or bytes the
/// integration relayed.
#[allow(async_fn_in_trait)]
pub trait Body {
    /// The whole body, refused once it is longer than `limit`.
    async fn read(self, limit: usize) -> Result<bytes::Bytes, BodyError>;
}

impl Body for bytes::Bytes {
    async fn read(self, limit: usize) -> Result<bytes::Bytes, BodyError> {
        if self.len() > limit {
            return Err(BodyError::TooLarge);
        }
        Ok(self)
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is too large")]
    TooLarge,
    #[error("the connection failed while the body was sent")]
    Broken(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One request to deliver, as it arrived.
pub struct Request<'a, B> {
    pub locate: Locate<'a>,
    pub reader: Reader,
    pub headers: &'a [(String, String)],
    /// The URL's query string, undecoded.
    pub query: &'a str,
    pub body: B,
    pub caller: Caller,
}

/// A committed delivery, for the answer to the sender.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub monitor: Monitor,
    /// This request created the monitor (a slug URL with `?create=1`).
    pub created: bool,
    pub ingested: Ingested,
    /// Stored, but no sender reads this body: why, so the tool's log says what to fix.
    pub not_understood: Option<String>,
    /// The notification as sent (ntfy, Gotify): their answers echo it.
    pub echo: Option<Echo>,
}

/// The monitor a request named.
struct Located<'a> {
    monitor: Monitor,
    created: bool,
    /// A ping's signal, from its path.
    signal: Option<&'a str>,
}

impl Service {
    /// Delivers one request: finds its monitor, reads and checks it, stores its events, and
    /// answers once they are committed.
    pub async fn deliver<B: Body>(
        &self,
        request: Request<'_, B>,
    ) -> Result<Delivered, ServiceError> {
        let Request {
            locate,
            reader,
            headers,
            query,
            body,
            caller,
        } = request;
        let zone = &self.settings.options.timezone;
        let (located, body) = match locate {
            Locate::BodyTopic => {
                let body = self.read_unattributed(body, caller).await?;
                let topic = senders::ntfy::from_json(&Inbound::new(headers, &body, zone))?.topic;
                let monitor = self.webhook_monitor(&topic, caller).await?;
                let located = Located {
                    monitor,
                    created: false,
                    signal: None,
                };
                (located, body)
            }
            named => {
                let located = self.locate(named, headers, query, caller).await?;
                let body = self.read_body(body, &located.monitor, caller).await?;
                (located, body)
            }
        };
        let monitor = &located.monitor;
        let inbound = Inbound::new(headers, &body, zone)
            .with_query(query)
            .with_signal(located.signal);
        self.authenticate(monitor, &inbound, caller)?;
        let read = reader
            .read(&inbound)
            .map_err(|e| self.refuse(monitor, caller, e.into(), &body))?;
        let ingested = self.ingest(monitor, read.events, caller).await?;
        Ok(Delivered {
            monitor: located.monitor,
            created: located.created,
            ingested,
            not_understood: read.not_understood,
            echo: read.echo,
        })
    }

    /// The monitor a URL, header or query names, before the body is read.
    async fn locate<'a>(
        &self,
        locate: Locate<'a>,
        headers: &[(String, String)],
        query: &str,
        caller: Caller,
    ) -> Result<Located<'a>, ServiceError> {
        // `?create=1` (its first value, decoded), read only where a slug may create.
        let create = || {
            serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .unwrap_or_default()
                .into_iter()
                .find(|(name, _)| name == "create")
                .is_some_and(|(_, value)| matches!(value.as_str(), "1" | "true"))
        };
        let by_id = |monitor| Located {
            monitor,
            created: false,
            signal: None,
        };
        match locate {
            Locate::Id(id) => Ok(by_id(self.webhook_monitor(id, caller).await?)),
            Locate::Slug { key, slug } => self.slug_monitor(key, slug, create(), caller).await,
            Locate::Ping(first, Some(slug), signal)
                if signal.is_some() || self.is_ping_key(first).await =>
            {
                let mut located = self.slug_monitor(first, slug, create(), caller).await?;
                located.signal = signal;
                Ok(located)
            }
            Locate::Ping(id, signal, _) => {
                let mut located = by_id(self.webhook_monitor(id, caller).await?);
                located.signal = signal;
                Ok(located)
            }
            Locate::GotifyToken => {
                let zone = jiff::tz::TimeZone::UTC;
                let inbound = Inbound::new(headers, b"", &zone).with_query(query);
                let token = senders::gotify::token(&inbound).ok_or(ServiceError::NoToken)?;
                Ok(by_id(self.webhook_monitor(token, caller).await?))
            }
            Locate::BodyTopic => Err(ServiceError::UnknownWebhook),
        }
    }

    /// A known monitor's body, within the size and time limits; a refusal is recorded.
    async fn read_body(
        &self,
        body: impl Body,
        monitor: &Monitor,
        caller: Caller,
    ) -> Result<bytes::Bytes, ServiceError> {
        read_within_limits(body)
            .await
            .map_err(|e| self.refuse(monitor, caller, e, b""))
    }

    /// A body read before anyone knows whose it is (ntfy's JSON names its topic inside):
    /// bounded per peer and in total, so unauthenticated requests cannot hold much memory.
    async fn read_unattributed(
        &self,
        body: impl Body,
        caller: Caller,
    ) -> Result<bytes::Bytes, ServiceError> {
        let _permit = self.guard.unattributed_read(caller.peer)?;
        read_within_limits(body).await
    }

    /// The monitor a webhook ID belongs to. A peer that keeps asking for unknown IDs runs
    /// out of attempts (429) and never causes a database write.
    pub async fn webhook_monitor(
        &self,
        raw_id: &str,
        caller: Caller,
    ) -> Result<Monitor, ServiceError> {
        let found = match WebhookId::existing(raw_id) {
            Ok(id) => self.store.monitor_by_webhook_id(&id).await?,
            Err(_) => None,
        };
        if let Some(monitor) = found {
            return Ok(monitor);
        }
        if let Some(placeholder) = crate::domain::placeholder_in(raw_id) {
            return Err(ServiceError::Invalid(crate::domain::ParseError::new(
                format!(
                    "the URL still holds the placeholder {placeholder}: copy the monitor's URL from the add-on's panel"
                ),
            )));
        }
        let masked: String = raw_id.chars().take(4).chain(['…']).collect();
        if let Err(retry_after) = self.guard.failed_attempt(caller.peer) {
            return Err(ServiceError::TooMany { retry_after });
        }
        // Listed for the dashboard (bounded, at most one a minute per sender unless it tries
        // another ID), with the monitor it probably meant.
        if self.guard.worth_listing(&masked, caller.peer) {
            let did_you_mean = self.closest_monitor(raw_id).await;
            if let Some(name) = &did_you_mean {
                tracing::info!(webhook_id = %masked, did_you_mean = %name, "a webhook ID close to a monitor's: a typo?");
            }
            self.guard.list_unknown(guard::UnknownRequest {
                at: Timestamp::now(),
                peer: caller.peer_text(),
                id: masked.clone(),
                did_you_mean,
            });
        }
        self.guard.note_unknown_id(masked, caller.peer);
        Err(ServiceError::UnknownWebhook)
    }

    /// The monitor whose webhook ID `raw` is probably a mistyped or cut-off form of.
    async fn closest_monitor(&self, raw: &str) -> Option<String> {
        if raw.len() < 8 {
            return None;
        }
        let monitors = self.store.monitors().await.ok()?;
        monitors
            .iter()
            .filter_map(|m| {
                let id = m.webhook_id.as_str();
                let distance = strsim::levenshtein(raw, id);
                let cut = id.starts_with(raw) || raw.starts_with(id);
                (distance <= 3 || cut).then_some((distance, m.name.as_str().to_owned()))
            })
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, name)| name)
    }

    /// Requests to unknown webhook IDs, newest first (bounded).
    pub fn recent_unknown_requests(&self) -> Vec<guard::UnknownRequest> {
        self.guard.recent_unknown()
    }

    /// The monitor with this webhook ID, asked only to explain a wrong URL. Each question
    /// counts against the peer as a guess would: the answer tells an ID is real.
    pub async fn monitor_named_in_url(
        &self,
        raw_id: &str,
        caller: Caller,
    ) -> Result<Option<Monitor>, ServiceError> {
        let Ok(id) = WebhookId::existing(raw_id) else {
            return Ok(None);
        };
        if let Err(retry_after) = self.guard.failed_attempt(caller.peer) {
            return Err(ServiceError::TooMany { retry_after });
        }
        Ok(self.store.monitor_by_webhook_id(&id).await?)
    }

    /// Is this the add-on's ping key? (The first segment of `/ping/<key>/<slug>` can also be
    /// a monitor's webhook ID: `/ping/<id>/<signal>`.)
    async fn is_ping_key(&self, raw: &str) -> bool {
        match self.ping_key().await {
            Ok(key) => key.matches(raw),
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read the ping key");
                false
            }
        }
    }

    /// The monitor a slug URL (`/ping/<ping key>/<slug>`, `/api/webhook/<ping key>/<slug>`)
    /// names. With `create`, a slug no monitor has becomes a new monitor of that name, marked
    /// in the panel until opened (Healthchecks' `?create=1`).
    async fn slug_monitor<'a>(
        &self,
        raw_key: &str,
        raw_slug: &str,
        create: bool,
        caller: Caller,
    ) -> Result<Located<'a>, ServiceError> {
        if !self.is_ping_key(raw_key).await {
            return match self.guard.failed_attempt(caller.peer) {
                Ok(()) => Err(ServiceError::UnknownWebhook),
                Err(retry_after) => Err(ServiceError::TooMany { retry_after }),
            };
        }
        let slug = Slug::parse(raw_slug)?;
        if let Some(monitor) = self.store.monitor_by_slug(&slug).await? {
            return Ok(Located {
                monitor,
                created: false,
                signal: None,
            });
        }
        if !create {
            return Err(ServiceError::UnknownWebhook);
        }
        // A leaked ping key must not fill the panel (and Home Assistant) with monitors.
        if self.store.monitors().await?.len() >= MAX_MONITORS_BY_URL {
            return Err(ServiceError::Conflict(format!(
                "?create=1 makes no more monitors: there are {MAX_MONITORS_BY_URL} already; \
                 create this one in the add-on's panel, or delete monitors no longer used"
            )));
        }
        let name = MonitorName::parse(slug.as_str())?;
        let mut new = NewMonitor::new(name, WebhookId::generate());
        new.history_limit = self.settings.options.history_limit;
        new.slug = Some(slug.clone());
        new.unseen = true;
        let monitor = self
            .store
            .create_monitor(new, crate::domain::Origin::Ui)
            .await?;
        tracing::info!(monitor = %monitor.key, %slug, "monitor created by a slug URL");
        self.publisher().entities_due();
        self.changed();
        Ok(Located {
            monitor,
            created: true,
            signal: None,
        })
    }

    /// Checks the monitor's secret, if it has one. A wrong signature is recorded for the
    /// panel and counts against the peer; over its budget the peer gets 429, unrecorded.
    fn authenticate(
        &self,
        monitor: &Monitor,
        inbound: &Inbound<'_>,
        caller: Caller,
    ) -> Result<(), ServiceError> {
        let Some(secret) = &monitor.secret else {
            return Ok(());
        };
        let error = match signature::verify(secrecy::ExposeSecret::expose_secret(secret), inbound) {
            Ok(()) => return Ok(()),
            Err(error) => ServiceError::Unauthorized(error),
        };
        if let Err(retry_after) = self.guard.failed_attempt(caller.peer) {
            return Err(ServiceError::TooMany { retry_after });
        }
        Err(self.refuse(monitor, caller, error, inbound.body()))
    }

    /// A known monitor's request was refused: kept, with the status the sender got, for
    /// the panel's list of refused requests (at most a row a minute per monitor). Gives the
    /// error back.
    fn refuse(
        &self,
        monitor: &Monitor,
        caller: Caller,
        error: ServiceError,
        body: &[u8],
    ) -> ServiceError {
        let status = error.http_status();
        let reason = error.to_string();
        tracing::info!(monitor = %monitor.key, status, reason, "webhook refused");
        let peer = caller.peer_text();
        if !self
            .guard
            .note_refusal(monitor.id, status, &reason, peer.clone())
        {
            return error;
        }
        let store = self.store.clone();
        let id = monitor.id;
        let head = body[..body.len().min(crate::store::REJECTION_HEAD_BYTES)].to_vec();
        tokio::spawn(async move {
            if let Err(e) = store
                .record_rejection(id, peer, status, reason, head, 1)
                .await
            {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot record a refused request");
            }
        });
        error
    }

    /// Stores the events of one authenticated delivery and answers once they are
    /// committed. The monitor's entities are recomputed after the commit.
    pub(super) async fn ingest(
        &self,
        monitor: &Monitor,
        events: Vec<BackupEvent>,
        caller: Caller,
    ) -> Result<Ingested, ServiceError> {
        if let Err(retry_after) = self.guard.admit_report(monitor.id) {
            let error = ServiceError::TooMany { retry_after };
            return Err(self.refuse(monitor, caller, error, b""));
        }
        let delivery = Delivery {
            monitor_id: monitor.id,
            received_at: caller.arrived.unwrap_or_else(Timestamp::now),
            events,
            fire_core_events: self.publisher().is_enabled(),
            shrink: monitor.shrink,
            unusual_durations: monitor.unusual_durations,
        };
        let publisher = self.publisher.load_full();
        let changes = Arc::clone(&self.changes);
        let ingested = self
            .store
            .ingest(delivery, move |ingested| {
                if ingested.stored > 0 || ingested.progressed > 0 {
                    publisher.entities_due();
                    changes.send_modify(|version| *version += 1);
                }
            })
            .await
            .inspect_err(|e| match e {
                crate::store::StoreError::Busy => {
                    tracing::warn!(monitor = %monitor.key, "the database queue is full: asked the sender to retry");
                }
                e if e.is_disk_full() => {
                    tracing::error!(monitor = %monitor.key, "the disk is full: a report was refused (503); Home Assistant is told");
                    self.publisher().storage().refused(monitor.id);
                    self.publisher().reevaluate(vec![monitor.id]);
                    self.changed();
                }
                _ => {}
            })?;
        // A write went through: if the disk was full, it has room again.
        let publisher = self.publisher();
        publisher.reevaluate(publisher.storage().recovered());
        tracing::info!(
            monitor = %monitor.key,
            events = ingested.stored,
            duplicates = ingested.duplicates,
            paired = ingested.paired,
            "webhook stored"
        );
        Ok(ingested)
    }
}

async fn read_within_limits(body: impl Body) -> Result<bytes::Bytes, ServiceError> {
    match tokio::time::timeout(BODY_TIMEOUT, body.read(MAX_BODY)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(BodyError::TooLarge)) => Err(ServiceError::TooLarge { limit: MAX_BODY }),
        Ok(Err(e)) => Err(ServiceError::Body(e)),
        Err(_) => Err(ServiceError::SlowBody {
            secs: BODY_TIMEOUT.as_secs(),
        }),
    }
}

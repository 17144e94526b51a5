//! A backup tool's delivery: find the monitor, check the secret, store the events.
//!
//! The handler reads the request and parses the sender's payload in between; everything
//! that touches the database happens here, and all of a delivery's writes (pairing with its
//! start, the events, each source's newest run, the Home Assistant events, marking the
//! entities due) are one job on the writer: committed together or not at all.

use std::net::IpAddr;
use std::sync::Arc;

use jiff::Timestamp;

use super::{Service, ServiceError, guard};
use crate::domain::{BackupEvent, Monitor, MonitorName, NewMonitor, Slug, WebhookId};
use crate::senders::Inbound;
use crate::signature;
use crate::store::{Delivery, Ingested};

/// Who sent a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    pub peer: Option<IpAddr>,
}

impl Caller {
    fn peer_text(&self) -> Option<String> {
        self.peer.map(|ip| ip.to_canonical().to_string())
    }
}

/// The monitor a slug URL names, and whether the request just created it.
#[derive(Debug, Clone)]
pub struct SlugTarget {
    pub monitor: Monitor,
    pub created: bool,
}

/// What was stored of a delivery, for the answer to the sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receipt {
    pub stored: usize,
    pub duplicates: usize,
}

impl Service {
    /// The monitor a webhook ID belongs to. A peer that keeps asking for unknown IDs runs
    /// out of attempts (429) and never causes a database write.
    pub async fn webhook_monitor(
        &self,
        raw_id: &str,
        caller: Caller,
    ) -> Result<Monitor, ServiceError> {
        let found = match WebhookId::parse(raw_id) {
            Ok(id) => self.store.monitor_by_webhook_id(&id).await?,
            Err(_) => None,
        };
        if let Some(monitor) = found {
            return Ok(monitor);
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

    /// The monitor with this webhook ID, asked only to explain a wrong URL: nothing is
    /// counted or logged.
    pub async fn monitor_named_in_url(&self, raw_id: &str) -> Option<Monitor> {
        let id = WebhookId::parse(raw_id).ok()?;
        self.store.monitor_by_webhook_id(&id).await.ok().flatten()
    }

    /// Is this the add-on's ping key? (The first segment of `/ping/<key>/<slug>` can also be
    /// a monitor's webhook ID: `/ping/<id>/<signal>`.)
    pub async fn is_ping_key(&self, raw: &str) -> bool {
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
    pub async fn slug_monitor(
        &self,
        raw_key: &str,
        raw_slug: &str,
        create: bool,
        caller: Caller,
    ) -> Result<SlugTarget, ServiceError> {
        if !self.is_ping_key(raw_key).await {
            return match self.guard.failed_attempt(caller.peer) {
                Ok(()) => Err(ServiceError::UnknownWebhook),
                Err(retry_after) => Err(ServiceError::TooMany { retry_after }),
            };
        }
        let slug = Slug::parse(raw_slug)?;
        if let Some(monitor) = self.store.monitor_by_slug(&slug).await? {
            return Ok(SlugTarget {
                monitor,
                created: false,
            });
        }
        if !create {
            return Err(ServiceError::UnknownWebhook);
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
        self.publisher.entities_due();
        self.changed();
        Ok(SlugTarget {
            monitor,
            created: true,
        })
    }

    /// Checks the monitor's secret, if it has one. A wrong signature is recorded for the
    /// panel and counts against the peer; over its budget the peer gets 429, unrecorded.
    pub fn authenticate(
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
        self.refused(monitor, caller, 401, &error.to_string(), inbound.body());
        Err(error)
    }

    /// A known monitor's request was refused (`status` is what the sender got): kept for
    /// the panel's list of refused requests, at most a row a minute per monitor.
    pub fn refused(
        &self,
        monitor: &Monitor,
        caller: Caller,
        status: u16,
        reason: &str,
        body: &[u8],
    ) {
        tracing::info!(monitor = %monitor.key, status, reason, "webhook refused");
        let peer = caller.peer_text();
        if !self
            .guard
            .note_refusal(monitor.id, status, reason, peer.clone())
        {
            return;
        }
        let store = self.store.clone();
        let (id, reason) = (monitor.id, reason.to_owned());
        let head = body[..body.len().min(crate::store::REJECTION_HEAD_BYTES)].to_vec();
        tokio::spawn(async move {
            if let Err(e) = store
                .record_rejection(id, peer, status, reason, head, 1)
                .await
            {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot record a refused request");
            }
        });
    }

    /// Stores the events of one authenticated delivery and answers once they are
    /// committed. The monitor's entities are recomputed after the commit.
    pub async fn ingest(
        &self,
        monitor: &Monitor,
        events: Vec<BackupEvent>,
        caller: Caller,
    ) -> Result<Receipt, ServiceError> {
        if let Err(retry_after) = self.guard.admit_report(monitor.id) {
            let error = ServiceError::TooMany { retry_after };
            self.refused(monitor, caller, 429, &error.to_string(), b"");
            return Err(error);
        }
        let delivery = Delivery {
            monitor_id: monitor.id,
            received_at: Timestamp::now(),
            events,
            fire_core_events: self.publisher.is_enabled(),
            shrink: monitor.shrink,
        };
        let publisher = self.publisher.clone();
        let changes = Arc::clone(&self.changes);
        let ingested: Ingested = self
            .store
            .ingest(delivery, move |ingested| {
                if ingested.stored > 0 || ingested.progressed > 0 {
                    publisher.entities_due();
                    changes.send_modify(|version| *version += 1);
                }
            })
            .await
            .inspect_err(|e| {
                if let crate::store::StoreError::Busy = e {
                    tracing::warn!(monitor = %monitor.key, "the database queue is full: asked the sender to retry");
                }
            })?;
        tracing::info!(
            monitor = %monitor.key,
            events = ingested.stored,
            duplicates = ingested.duplicates,
            paired = ingested.paired,
            "webhook stored"
        );
        Ok(Receipt {
            stored: ingested.stored,
            duplicates: ingested.duplicates,
        })
    }
}

//! The companion Home Assistant integration (`custom_components/kopia_webhook`): it relays
//! reports sent to Home Assistant's own URL, follows the monitors to register their webhook
//! IDs with Core, takes over the entries of the integration it replaces, and tells the add-on
//! the URLs Home Assistant is reached at. Every call presents the integration key.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use super::{Caller, Service, ServiceError};
use crate::config::CoreSettings;
use crate::domain::{
    HistoryLimit, IntegrationKey, Monitor, MonitorName, NewMonitor, Origin, WebhookId,
};
use crate::store::StoreError;

/// How long after its last call the integration counts as connected: it asks for changes
/// at least every 25 s.
const CONNECTED_FOR: Duration = Duration::from_secs(90);

/// The URLs Home Assistant is reached at, as Core reports them to the integration.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeAssistantUrls {
    /// Core's external URL (Settings → Network), if set.
    #[serde(default)]
    pub external: Option<String>,
    /// Home Assistant Cloud's remote URL, when remote access is on.
    #[serde(default)]
    pub cloud: Option<String>,
    /// Core's version.
    #[serde(default)]
    pub version: Option<String>,
    /// Home Assistant Cloud webhooks the user chose, by webhook ID: secrets like the IDs
    /// (never serialized back, never in debug output).
    #[serde(default, skip_serializing)]
    pub cloudhooks: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for HomeAssistantUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeAssistantUrls")
            .field("external", &self.external)
            .field("cloud", &self.cloud)
            .field("version", &self.version)
            .field("cloudhooks", &self.cloudhooks.len())
            .finish()
    }
}

impl HomeAssistantUrls {
    /// The Home Assistant Cloud webhook of this ID, if the user chose one.
    pub fn cloud_webhook(&self, webhook_id: &WebhookId) -> Option<String> {
        self.cloudhooks.get(webhook_id.as_str()).cloned()
    }

    /// The URL a sender outside the house uses: the external URL, else the remote one.
    pub fn from_anywhere(&self, webhook_id: &WebhookId) -> Option<String> {
        let base = self.external.as_deref().or(self.cloud.as_deref())?;
        Some(format!(
            "{}/api/webhook/{}",
            base.trim_end_matches('/'),
            webhook_id.as_str()
        ))
    }
}

/// An entry of the replaced integration: its webhook ID, and what the integration calls it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyEntry {
    pub webhook_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub history_limit: Option<i64>,
}

/// What the add-on knows of the integration.
#[derive(Default)]
pub(super) struct IntegrationLink {
    key: RwLock<Option<IntegrationKey>>,
    seen: RwLock<Option<(Instant, HomeAssistantUrls)>>,
}

impl Service {
    /// The key the integration presents, made at the first start.
    pub async fn integration_key(&self) -> Result<IntegrationKey, ServiceError> {
        if let Some(key) = self.read_key() {
            return Ok(key);
        }
        let key = self.store.integration_key().await?;
        *self
            .integration
            .key
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        Ok(key)
    }

    fn read_key(&self) -> Option<IntegrationKey> {
        self.integration
            .key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A new integration key: the integration is refused until it is set up with it.
    pub async fn rotate_integration_key(&self) -> Result<IntegrationKey, ServiceError> {
        let key = self.store.rotate_integration_key().await?;
        *self
            .integration
            .key
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        *self
            .integration
            .seen
            .write()
            .unwrap_or_else(|p| p.into_inner()) = None;
        tracing::info!(integration_key = %key.masked(), "integration key rotated");
        self.changed();
        Ok(key)
    }

    /// Lets the integration's call through when it presents the key; a wrong or missing key
    /// counts as a guess in the caller's throttle.
    pub async fn admit_integration(
        &self,
        presented: Option<&str>,
        caller: Caller,
    ) -> Result<(), ServiceError> {
        let key = self.integration_key().await?;
        if presented.is_some_and(|presented| key.matches(presented)) {
            return Ok(());
        }
        let shown: String = presented
            .unwrap_or("")
            .chars()
            .take(4)
            .chain(['…'])
            .collect();
        tracing::warn!(peer = %caller.peer_text().unwrap_or_default(), key = %shown, "a call with a wrong integration key");
        if let Err(retry_after) = self.guard.failed_attempt(caller.peer) {
            return Err(ServiceError::TooMany { retry_after });
        }
        Err(ServiceError::WrongKey)
    }

    /// The integration called: it is connected, and Home Assistant is reached at `urls`
    /// (`None`: as it last said).
    pub fn integration_seen(&self, urls: Option<HomeAssistantUrls>) {
        let mut seen = self
            .integration
            .seen
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let was_connected = seen
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < CONNECTED_FOR);
        let changed_urls = urls
            .as_ref()
            .is_some_and(|urls| seen.as_ref().is_none_or(|(_, known)| known != urls));
        let urls = urls.or_else(|| seen.take().map(|(_, urls)| urls));
        *seen = Some((Instant::now(), urls.unwrap_or_default()));
        drop(seen);
        if !was_connected || changed_urls {
            if !was_connected {
                tracing::info!("the Home Assistant integration is connected");
            }
            self.changed();
        }
    }

    /// Home Assistant's URLs while the integration is connected.
    pub fn home_assistant_urls(&self) -> Option<HomeAssistantUrls> {
        let seen = self
            .integration
            .seen
            .read()
            .unwrap_or_else(|p| p.into_inner());
        seen.as_ref()
            .filter(|(at, _)| at.elapsed() < CONNECTED_FOR)
            .map(|(_, urls)| urls.clone())
    }

    /// Whether the integration called lately.
    pub fn integration_connected(&self) -> bool {
        self.integration
            .seen
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < CONNECTED_FOR)
    }

    /// A monitor's URLs outside the house while the integration is connected: at Home
    /// Assistant's own address, and its Home Assistant Cloud webhook (read in place: a list of
    /// monitors asks once per monitor).
    pub fn outside_urls(&self, webhook_id: &WebhookId) -> (Option<String>, Option<String>) {
        let seen = self
            .integration
            .seen
            .read()
            .unwrap_or_else(|p| p.into_inner());
        match seen.as_ref().filter(|(at, _)| at.elapsed() < CONNECTED_FOR) {
            Some((_, urls)) => (
                urls.from_anywhere(webhook_id),
                urls.cloud_webhook(webhook_id),
            ),
            None => (None, None),
        }
    }

    /// The integration hands over Home Assistant's connection (Core's URL as the add-on
    /// reaches it, and a token of a user it made): entities and events from now on, and at
    /// every start. Refused where the add-on has its own (the Supervisor's, or
    /// `KOPIA_WEBHOOK_CORE_URL`); the same connection again changes nothing.
    pub async fn link_core(&self, url: &str, token: SecretString) -> Result<(), ServiceError> {
        if self.settings.core.is_some() {
            return Err(ServiceError::Conflict(
                "this add-on already reaches Home Assistant (through the Supervisor or KOPIA_WEBHOOK_CORE_URL)".into(),
            ));
        }
        let url = url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with("/api") {
            return Err(crate::domain::ParseError::new(
                "url must be Home Assistant's address as the add-on reaches it, e.g. http://192.168.1.10:8123",
            )
            .into());
        }
        let same = self
            .store
            .core_link()
            .await?
            .is_some_and(|(known, known_token)| {
                known == url && known_token.expose_secret() == token.expose_secret()
            });
        if same && self.publisher().is_enabled() {
            return Ok(());
        }
        self.store
            .set_core_link(Some((url.clone(), token.clone())))
            .await?;
        tracing::info!(core = %url, "the integration handed over Home Assistant's connection");
        self.start_core(CoreSettings { url, token }).await;
        Ok(())
    }

    /// Publishes to this Home Assistant from now on (the publisher before stops).
    pub async fn start_core(&self, core: CoreSettings) {
        let Some(starter) = self.core_starter.get() else {
            return;
        };
        self.core.send_replace(Some(Arc::new(core.clone())));
        let publisher = starter(core).await;
        self.publisher.swap(Arc::new(publisher)).stop();
        self.changed();
    }

    /// The integration was removed: its token goes with its user, so the add-on stops
    /// pushing and forgets the connection (unless it has its own).
    pub async fn unlink_core(&self) -> Result<(), ServiceError> {
        if self.settings.core.is_some() {
            return Ok(());
        }
        self.store.set_core_link(None).await?;
        self.core.send_replace(None);
        self.publisher
            .swap(Arc::new(super::publishing::Publisher::disabled()))
            .stop();
        tracing::info!("Home Assistant's connection was taken back by the integration");
        self.changed();
        Ok(())
    }

    /// Takes over an entry of the replaced integration: a monitor with the same webhook ID, so
    /// Kopia keeps posting to the same URL. `(monitor, true)` when it was made now; the
    /// monitor that already has the ID otherwise (asking twice changes nothing).
    pub async fn adopt_legacy_entry(
        &self,
        entry: LegacyEntry,
    ) -> Result<(Monitor, bool), ServiceError> {
        let webhook_id = WebhookId::existing(entry.webhook_id.trim())?;
        if let Some(monitor) = self.store.monitor_by_webhook_id(&webhook_id).await? {
            return Ok((monitor, false));
        }
        let history_limit = match entry.history_limit {
            Some(limit) => HistoryLimit::parse(limit)?,
            None => HistoryLimit::default(),
        };
        // The old integration named its device after the webhook ID; a name holding the ID
        // would put it in entity IDs and logs.
        let wanted = entry
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| {
                !n.is_empty()
                    && !n
                        .to_lowercase()
                        .contains(&webhook_id.as_str().to_lowercase())
            })
            .unwrap_or(LEGACY_NAME)
            .to_owned();
        let mut attempt = 1;
        let monitor = loop {
            let name = match attempt {
                1 => MonitorName::parse(&wanted)?,
                n => MonitorName::parse(&format!("{wanted} {n}"))?,
            };
            let new = NewMonitor {
                history_limit,
                ..NewMonitor::new(name, webhook_id.clone())
            };
            match self.store.create_monitor(new, Origin::Ui).await {
                Err(StoreError::Conflict(_)) if attempt < 10 => attempt += 1,
                other => break other?,
            }
        };
        tracing::info!(monitor = %monitor.key, webhook_id = %webhook_id.masked(), "took over an entry of the replaced integration");
        self.publisher().entities_due();
        self.changed();
        Ok((monitor, true))
    }
}

/// What a taken-over entry is called when it has no name of its own (the old integration's
/// titles hold the webhook ID): `sensor.kopia_backup`, then `…_backup_2`.
const LEGACY_NAME: &str = "Kopia backup";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_from_anywhere_prefers_the_external_url() {
        let id = WebhookId::existing("nas_backup").unwrap();
        let mut urls = HomeAssistantUrls {
            cloud: Some("https://abc.ui.nabu.casa".into()),
            ..HomeAssistantUrls::default()
        };
        assert_eq!(
            urls.from_anywhere(&id).as_deref(),
            Some("https://abc.ui.nabu.casa/api/webhook/nas_backup")
        );
        urls.external = Some("https://ha.example.org/".into());
        assert_eq!(
            urls.from_anywhere(&id).as_deref(),
            Some("https://ha.example.org/api/webhook/nas_backup")
        );
        assert_eq!(HomeAssistantUrls::default().from_anywhere(&id), None);
    }
}

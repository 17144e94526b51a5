use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::EntityState;
use crate::config::CoreSettings;

#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// Core is restarting or unreachable: normal for a while, retried quietly.
    #[error("Home Assistant is not reachable right now")]
    Unreachable(#[source] reqwest::Error),
    /// The Supervisor's proxy answers for a Core that is (re)starting.
    #[error("Home Assistant is not reachable right now (HTTP {0}: restarting?)")]
    Restarting(u16),
    #[error(
        "Home Assistant refused the token (HTTP {0}); check the add-on's homeassistant_api permission or KOPIA_WEBHOOK_CORE_TOKEN"
    )]
    Unauthorized(u16),
    #[error("Home Assistant answered HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
}

/// An HTTP client for these URLs. The system's CA certificates are read (and kept, some
/// hundred kilobytes and the code that parses them) only when one of them is `https`: the
/// Supervisor and a Core on the LAN are plain HTTP.
pub(crate) fn http_client(urls: &[&str], connect: Duration, timeout: Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(timeout)
        .user_agent(concat!("kopia-webhook/", env!("CARGO_PKG_VERSION")));
    if !urls.iter().any(|url| url.starts_with("https:")) {
        builder = builder.tls_certs_only(Vec::new());
    }
    builder
        .build()
        .expect("a TLS provider is installed at start-up")
}

/// What `GET /api/config` says about Core.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CoreConfig {
    pub version: String,
    #[serde(default)]
    pub components: Vec<String>,
}

impl CoreConfig {
    /// Core's `year.month` (`2026.11.0`, `2026.12.0b1`, `2026.12.0.dev0`).
    pub fn release(&self) -> Option<(u32, u32)> {
        let mut parts = self.version.split('.');
        let year = parts.next()?.parse().ok()?;
        let month: String = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some((year, month.parse().ok()?))
    }
}

/// Talks to Core's REST API: `{url}/api/...` with a bearer token.
#[derive(Clone)]
pub struct CoreClient {
    url: String,
    token: SecretString,
    http: reqwest::Client,
}

impl CoreClient {
    pub fn new(settings: &CoreSettings) -> Self {
        let http = http_client(
            &[&settings.url],
            Duration::from_secs(5),
            Duration::from_secs(15),
        );
        Self {
            url: settings.url.trim_end_matches('/').to_owned(),
            token: settings.token.clone(),
            http,
        }
    }

    /// `POST /api/states/{entity_id}` with a body already serialised (from the outbox):
    /// creates or replaces the state (201 or 200).
    pub async fn set_state(&self, entity_id: &str, state_json: &str) -> Result<(), HaError> {
        let request = self
            .http
            .post(format!("{}/api/states/{entity_id}", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(state_json.to_owned());
        self.send(request).await.map(drop)
    }

    /// `DELETE /api/states/{entity_id}`; an entity Core does not know is already gone.
    pub async fn delete_state(&self, entity_id: &str) -> Result<(), HaError> {
        let request = self
            .http
            .delete(format!("{}/api/states/{entity_id}", self.url));
        match self.send(request).await {
            Ok(_) | Err(HaError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether Core currently has a state for `entity_id` (it forgets them on restart).
    pub async fn has_state(&self, entity_id: &str) -> Result<bool, HaError> {
        let request = self
            .http
            .get(format!("{}/api/states/{entity_id}", self.url));
        match self.send(request).await {
            Ok(_) => Ok(true),
            Err(HaError::Rejected { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/config`: Core's version and the integrations it has loaded.
    pub async fn config(&self) -> Result<CoreConfig, HaError> {
        let request = self.http.get(format!("{}/api/config", self.url));
        let response = self.send(request).await?;
        response.json().await.map_err(|e| HaError::Rejected {
            status: 200,
            message: format!(
                "GET /api/config did not answer Core's configuration: {}",
                e.without_url()
            ),
        })
    }

    /// `POST /api/events/{event_type}` with a JSON object as the event data.
    pub async fn fire_event(&self, event_type: &str, data_json: &str) -> Result<(), HaError> {
        let request = self
            .http
            .post(format!("{}/api/events/{event_type}", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(data_json.to_owned());
        self.send(request).await.map(drop)
    }

    /// `POST /api/services/{domain}/{service}` with a JSON object as the service data.
    pub async fn call_service(
        &self,
        domain: &str,
        service: &str,
        data: &serde_json::Value,
    ) -> Result<(), HaError> {
        let request = self
            .http
            .post(format!("{}/api/services/{domain}/{service}", self.url))
            .json(data);
        self.send(request).await.map(drop)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, HaError> {
        let response = request
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| HaError::Unreachable(e.without_url()))?;
        check(response).await
    }
}

impl HaError {
    /// Core as a whole cannot be reached: stop the round and back off.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Restarting(_))
    }
}

impl EntityState {
    /// The body Core expects, as stored in the outbox.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, HaError> {
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(response),
        401 | 403 => Err(HaError::Unauthorized(status)),
        502..=504 => Err(HaError::Restarting(status)),
        _ => {
            let body = response.text().await.unwrap_or_default();
            let message: String = body.chars().take(300).collect();
            Err(HaError::Rejected { status, message })
        }
    }
}

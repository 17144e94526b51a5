//! Watches Home Assistant Core over its websocket API. Core forgets API-set states when it
//! restarts; its `homeassistant_started` event, or the websocket coming back after Core was
//! away, is told to the caller, which has every entity pushed again at once instead of at
//! the next periodic check.

use std::future::Future;
use std::time::Duration;

use futures_util::SinkExt;
use secrecy::SecretString;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::socket::{SocketError, connect, read_json};

/// `http://supervisor/core` -> `ws://supervisor/core/websocket` (the Supervisor's proxy);
/// `http://host:8123` -> `ws://host:8123/api/websocket`. Encrypted Cores are left to the
/// periodic check (this build carries no TLS for websockets).
pub fn websocket_url(core_url: &str) -> Option<String> {
    let rest = core_url.trim_end_matches('/').strip_prefix("http://")?;
    if rest.ends_with("/core") {
        Some(format!("ws://{rest}/websocket"))
    } else {
        Some(format!("ws://{rest}/api/websocket"))
    }
}

/// Keeps a websocket to Core; `restarted(why)` runs when Core (re)started or came back.
pub async fn watch_core<F, Fut>(url: String, token: SecretString, restarted: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut delay = Duration::from_secs(1);
    let mut authenticated_before = false;
    loop {
        let mut authenticated = false;
        if let Err(e) = session(
            &url,
            &token,
            &restarted,
            authenticated_before,
            &mut authenticated,
        )
        .await
        {
            // At debug: the REST pushes already report a refused token, once per entity.
            tracing::debug!(error = %crate::telemetry::ErrorChain(&e), "Home Assistant websocket closed");
        }
        if authenticated {
            authenticated_before = true;
            delay = Duration::from_secs(1);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// One connection: authenticate, subscribe, and wait for Core to (re)start. A connection
/// that authenticates after an earlier one means Core was away: push everything.
async fn session<F, Fut>(
    url: &str,
    token: &SecretString,
    restarted: &F,
    reconnected: bool,
    authenticated: &mut bool,
) -> Result<(), SocketError>
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut socket = connect(url, token).await?;
    *authenticated = true;
    if reconnected {
        restarted("Home Assistant's websocket is back").await;
    }
    let subscribe =
        json!({"id": 1, "type": "subscribe_events", "event_type": "homeassistant_started"})
            .to_string();
    socket
        .send(Message::text(subscribe))
        .await
        .map_err(SocketError::Io)?;
    loop {
        let message = read_json(&mut socket).await?;
        if message["type"] == "event" && message["event"]["event_type"] == "homeassistant_started" {
            restarted("Home Assistant started").await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_of_the_supervisor_proxy_and_of_a_direct_core() {
        assert_eq!(
            websocket_url("http://supervisor/core").as_deref(),
            Some("ws://supervisor/core/websocket")
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:8123").as_deref(),
            Some("ws://127.0.0.1:8123/api/websocket")
        );
        assert_eq!(websocket_url("https://ha.example.org"), None);
    }
}

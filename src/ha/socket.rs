//! Fires Home Assistant events over one websocket connection: a batch of `fire_event`
//! commands in one write, then their results. Over REST each event is a request of its own
//! (a URL, headers, a round trip); under a burst of reports that was most of the add-on's
//! work per report with a Core connected. REST stays the fallback (an encrypted Core, a
//! websocket that fails).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::HaError;

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a batch may wait for Core's answers before the connection is given up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// After a failure, REST carries the events for this long before the websocket is tried
/// again (a Core whose websocket hangs must not hold every batch up for the timeout).
const REST_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// A connection unused for this long is closed and opened again on the next batch: the
/// socket is only read while a batch waits for its answers, so the heartbeat pings of Core
/// (55 s) and of the Supervisor's proxy (30 s) go unanswered in between, and they close it.
const IDLE_CLOSE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot reach Home Assistant's websocket")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("Home Assistant's websocket failed")]
    Io(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("Home Assistant's websocket said {0}")]
    Protocol(String),
    #[error("Home Assistant's websocket did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Home Assistant's websocket failed a moment ago")]
    Resting,
}

/// One authenticated connection, opened on first use and again after a failure.
pub struct EventSocket {
    url: String,
    token: SecretString,
    socket: Option<Socket>,
    next_id: u64,
    failed_at: Option<tokio::time::Instant>,
    used_at: tokio::time::Instant,
}

impl EventSocket {
    pub fn new(url: String, token: SecretString) -> Self {
        Self {
            url,
            token,
            socket: None,
            next_id: 1,
            failed_at: None,
            used_at: tokio::time::Instant::now(),
        }
    }

    /// Fires one event of `event_type` per entry of `batch` (each a JSON object). The outer
    /// error means the connection failed and nothing is known (the caller falls back to
    /// REST); otherwise one answer per event, in order.
    pub async fn fire_all(
        &mut self,
        event_type: &str,
        batch: &[String],
    ) -> Result<Vec<Result<(), HaError>>, SocketError> {
        if self
            .failed_at
            .is_some_and(|at| at.elapsed() < REST_AFTER_FAILURE)
        {
            return Err(SocketError::Resting);
        }
        if self.used_at.elapsed() > IDLE_CLOSE
            && let Some(mut idle) = self.socket.take()
        {
            let _ = idle.close(None).await;
        }
        self.used_at = tokio::time::Instant::now();
        let result = tokio::time::timeout(ANSWER_TIMEOUT, self.exchange(event_type, batch))
            .await
            .unwrap_or(Err(SocketError::Timeout(ANSWER_TIMEOUT)));
        if result.is_err() {
            self.socket = None;
            self.failed_at = Some(tokio::time::Instant::now());
        }
        result
    }

    async fn exchange(
        &mut self,
        event_type: &str,
        batch: &[String],
    ) -> Result<Vec<Result<(), HaError>>, SocketError> {
        let first_id = self.next_id;
        self.next_id += batch.len() as u64;
        let socket = match &mut self.socket {
            Some(socket) => socket,
            slot => slot.insert(connect(&self.url, &self.token).await?),
        };
        let event_type = serde_json::to_string(event_type).unwrap_or_default();
        for (id, data) in (first_id..).zip(batch) {
            // The data is a JSON object serialised by the add-on: spliced in as it is.
            let command = format!(
                r#"{{"id":{id},"type":"fire_event","event_type":{event_type},"event_data":{data}}}"#
            );
            socket
                .feed(Message::text(command))
                .await
                .map_err(SocketError::Io)?;
        }
        socket.flush().await.map_err(SocketError::Io)?;
        let mut answers: Vec<Option<Result<(), HaError>>> = Vec::new();
        answers.resize_with(batch.len(), || None);
        let mut left = batch.len();
        while left > 0 {
            let message = read_json(socket).await?;
            if message["type"] != "result" {
                continue;
            }
            let Some(index) = message["id"]
                .as_u64()
                .and_then(|id| id.checked_sub(first_id))
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < batch.len())
            else {
                continue;
            };
            if answers[index].is_none() {
                left -= 1;
            }
            answers[index] = Some(answer_of(&message));
        }
        Ok(answers.into_iter().map(|a| a.unwrap_or(Ok(()))).collect())
    }
}

/// A command's result as the REST client would have reported it.
fn answer_of(message: &Value) -> Result<(), HaError> {
    if message["success"] == true {
        return Ok(());
    }
    let code = message["error"]["code"].as_str().unwrap_or("error");
    if code == "unauthorized" {
        return Err(HaError::Unauthorized(401));
    }
    Err(HaError::Rejected {
        status: 400,
        message: format!(
            "{code}: {}",
            message["error"]["message"].as_str().unwrap_or("no message")
        ),
    })
}

/// An authenticated connection to Core's websocket API (also the watcher's, `watch.rs`).
pub(super) async fn connect(url: &str, token: &SecretString) -> Result<Socket, SocketError> {
    // Without TCP_NODELAY a batch's last command waits for the delayed ACK of the one
    // before: 40 ms a batch, 2,500 events a second at most.
    // tungstenite zero-fills its whole read buffer before each read: 128 KiB resident per
    // connection by default, three connections. Core's messages are small; a bigger one
    // grows the buffer as it arrives.
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(SocketError::Connect)?;
    let hello = read_json(&mut socket).await?;
    if hello["type"] != "auth_required" {
        return Err(SocketError::Protocol(format!(
            "{} instead of auth_required",
            hello["type"]
        )));
    }
    let auth = serde_json::json!({"type": "auth", "access_token": token.expose_secret()});
    socket
        .send(Message::text(auth.to_string()))
        .await
        .map_err(SocketError::Io)?;
    let answer = read_json(&mut socket).await?;
    if answer["type"] != "auth_ok" {
        return Err(SocketError::Protocol("the token was refused".into()));
    }
    Ok(socket)
}

/// The next text message as JSON; pings are answered while reading.
pub(super) async fn read_json(socket: &mut Socket) -> Result<Value, SocketError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .map_err(|e| SocketError::Protocol(format!("text that is not JSON ({e})")));
            }
            Some(Ok(Message::Close(_))) | None => {
                return Err(SocketError::Protocol("the connection closed".into()));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(SocketError::Io(e)),
        }
    }
}

//! A fake Home Assistant Core that speaks both of Core's APIs on one port: REST (every
//! request answered `201 {}`) and the websocket (`auth_required`, `auth_ok`, subscription
//! results), as the add-on uses them. Records the tokens it was given and counts the events
//! fired at it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

pub struct WsCore {
    pub url: String,
    /// Access tokens received on the websocket.
    pub tokens: Arc<Mutex<Vec<String>>>,
    /// Events fired (`POST /api/events/…` and websocket `fire_event`).
    pub fired: Arc<AtomicU64>,
    /// The event data of each websocket `fire_event`, in order.
    pub socket_events: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WsCore {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicU64::new(0));
        let socket_events = Arc::new(Mutex::new(Vec::new()));
        let record = Record {
            tokens: Arc::clone(&tokens),
            fired: Arc::clone(&fired),
            socket_events: Arc::clone(&socket_events),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, record.clone()));
            }
        });
        Self {
            url,
            tokens,
            fired,
            socket_events,
        }
    }

    /// Events fired at this Core so far.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::SeqCst)
    }
}

/// Where the connections record what they received.
#[derive(Clone)]
struct Record {
    tokens: Arc<Mutex<Vec<String>>>,
    fired: Arc<AtomicU64>,
    socket_events: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn serve(stream: TcpStream, record: Record) {
    // As Core's server does: answers are not held back for the next packet.
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 64];
    let Ok(n) = stream.peek(&mut first).await else {
        return;
    };
    if String::from_utf8_lossy(&first[..n]).starts_with("GET /api/websocket") {
        websocket(stream, record).await;
    } else {
        rest(stream, record.fired).await;
    }
}

async fn websocket(stream: TcpStream, record: Record) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let send = |v: serde_json::Value| Message::text(v.to_string());
    let _ = ws
        .send(send(
            serde_json::json!({"type": "auth_required", "ha_version": "2026.11.0"}),
        ))
        .await;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let reply = match value["type"].as_str() {
            Some("auth") => {
                record.tokens.lock().unwrap().push(
                    value["access_token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                serde_json::json!({"type": "auth_ok", "ha_version": "2026.11.0"})
            }
            // A Core without the backup integration.
            Some(kind) if kind.starts_with("backup/") => serde_json::json!({"id": value["id"],
                "type": "result", "success": false,
                "error": {"code": "unknown_command", "message": "Unknown command."}}),
            kind => {
                if kind == Some("fire_event") {
                    record
                        .socket_events
                        .lock()
                        .unwrap()
                        .push(value["event_data"].clone());
                    record.fired.fetch_add(1, Ordering::SeqCst);
                }
                serde_json::json!({"id": value["id"], "type": "result", "success": true, "result": null})
            }
        };
        if ws.send(send(reply)).await.is_err() {
            return;
        }
    }
}

/// HTTP/1.1 with keep-alive: reads each request (headers and Content-Length body) and
/// answers `201 {}`, as Core does for a state it did not have.
async fn rest(mut stream: TcpStream, fired: Arc<AtomicU64>) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        if head.starts_with("post /api/events/") {
            fired.fetch_add(1, Ordering::SeqCst);
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + length);
        let answer =
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

//! The real Home Assistant Core that `tools/realha/start.sh` runs: its REST states, its
//! registries over the websocket, and a restart with the same settings.

use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub struct Core {
    pub url: String,
    pub token: String,
    http: reqwest::Client,
}

impl Core {
    pub fn from_env() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url =
            std::env::var("REALHA_URL").expect("REALHA_URL: start Core with tools/realha/start.sh");
        let token_file = std::env::var("REALHA_TOKEN_FILE").expect("REALHA_TOKEN_FILE");
        Self {
            url,
            token: std::fs::read_to_string(token_file)
                .unwrap()
                .trim()
                .to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// `None` while Core has no such state (404), and while it is restarting.
    pub async fn state(&self, entity_id: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/api/states/{entity_id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        match response.status().as_u16() {
            200 => Some(response.json().await.unwrap()),
            404 | 502..=504 => None,
            other => panic!("Core answered {other}"),
        }
    }

    /// Waits (at most 30 s) until the entity's state satisfies `check`.
    pub async fn wait_for(&self, entity_id: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..300 {
            if let Some(state) = self.state(entity_id).await
                && check(&state)
            {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{entity_id} never reached the expected state; now {:?}",
            self.state(entity_id).await
        );
    }

    /// Removes a state, as Core's restart does.
    pub async fn forget(&self, entity_id: &str) {
        self.http
            .delete(format!("{}/api/states/{entity_id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
    }

    /// One websocket command's `result` (the registries are not in the REST API).
    pub async fn ws(&self, command: &str) -> Value {
        self.ws_call(json!({ "type": command })).await
    }

    /// A websocket to Core, authenticated with the test token.
    async fn websocket(&self) -> WebSocket {
        self.websocket_as(&self.token).await
    }

    async fn websocket_as(&self, token: &str) -> WebSocket {
        let ws_url = format!("{}/api/websocket", self.url.replacen("http", "ws", 1));
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        let _ = ws.next().await; // auth_required
        ws.send(Message::text(
            json!({"type": "auth", "access_token": token}).to_string(),
        ))
        .await
        .unwrap();
        let answer = ws.next().await; // auth_ok
        assert!(
            matches!(&answer, Some(Ok(Message::Text(t))) if t.contains("auth_ok")),
            "Core accepted the token: {answer:?}"
        );
        ws
    }

    /// [`Core::ws`] for a command with parameters (`type` and the rest, without `id`).
    pub async fn ws_call(&self, command: Value) -> Value {
        self.ws_answer(&self.token, command).await["result"].clone()
    }

    /// The whole answer (`success`, `result` or `error`) to a websocket command sent with
    /// `token` (another user's, say).
    pub async fn ws_answer(&self, token: &str, mut command: Value) -> Value {
        let mut ws = self.websocket_as(token).await;
        command["id"] = json!(1);
        ws.send(Message::text(command.to_string())).await.unwrap();
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["id"] == 1 {
                    return value;
                }
            }
        }
        panic!("no answer to {command}");
    }

    /// The events of `event_type` Core fires from now on: a subscribed websocket.
    pub async fn subscribe(&self, event_type: &str) -> Subscription {
        let mut ws = self.websocket().await;
        let subscribe = json!({"id": 1, "type": "subscribe_events", "event_type": event_type});
        ws.send(Message::text(subscribe.to_string())).await.unwrap();
        let mut subscription = Subscription { ws };
        let answer = subscription.next_message().await;
        assert_eq!(answer["success"], true, "subscribed: {answer}");
        subscription
    }

    pub async fn entity_entry(&self, entity_id: &str) -> Option<Value> {
        let entries = self.ws("config/entity_registry/list").await;
        entries
            .as_array()?
            .iter()
            .find(|e| e["entity_id"] == entity_id)
            .cloned()
    }

    /// The registry entry of the entity with this unique ID (its entity ID may carry `_2`
    /// where an earlier test's install took the plain one).
    pub async fn entity_by_unique_id(&self, unique_id: &str) -> Option<Value> {
        let entries = self.ws("config/entity_registry/list").await;
        entries
            .as_array()?
            .iter()
            .find(|e| e["unique_id"] == unique_id)
            .cloned()
    }

    pub async fn device(&self, device_id: &str) -> Option<Value> {
        let devices = self.ws("config/device_registry/list").await;
        devices
            .as_array()?
            .iter()
            .find(|d| d["id"] == device_id)
            .cloned()
    }

    /// Restarts Core with the same settings (the environment's `REALHA_*`, MQTT included),
    /// as a user's restart would; returns when it answers again.
    pub fn restart(&self) {
        self.restart_with(&[]);
    }

    /// [`Core::restart`] with some of its settings changed, e.g. `REALHA_CUSTOM_COMPONENTS`
    /// (each `<dir>/<domain>/` copied over Core's own copy before it starts).
    pub fn restart_with(&self, env: &[(&str, &str)]) {
        let realha = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/realha");
        assert!(
            Command::new(format!("{realha}/stop.sh"))
                .status()
                .unwrap()
                .success()
        );
        let started = Command::new(format!("{realha}/start.sh"))
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(started.success());
    }
}

impl Core {
    /// A REST call to Core with the test token; the status and the JSON (or `null`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        // A connection kept from before a restart of Core fails once; a new one works.
        let mut attempts = 0;
        let response = loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.url))
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => break response,
                Err(e) if attempts < 3 => {
                    attempts += 1;
                    eprintln!("asking Core again: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("Core did not answer {path}: {e}"),
            }
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Runs a config flow of `handler` through Core's REST API, answering its first form
    /// with `input`; the flow's last answer.
    pub async fn config_flow(&self, handler: &str, input: Value) -> Value {
        let (status, form) = self
            .call(
                reqwest::Method::POST,
                "/api/config/config_entries/flow",
                Some(json!({"handler": handler, "show_advanced_options": false})),
            )
            .await;
        assert_eq!(status, 200, "Core started the {handler} flow: {form}");
        let flow_id = form["flow_id"].as_str().unwrap().to_owned();
        let (status, answer) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/config/config_entries/flow/{flow_id}"),
                Some(input),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Every config entry of `domain`.
    pub async fn config_entries(&self, domain: &str) -> Vec<Value> {
        let (status, entries) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/config/config_entries/entry?domain={domain}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        entries.as_array().cloned().unwrap_or_default()
    }

    /// A new user who is not an administrator, and an access token of theirs (through Core's
    /// own login flow, as the browser signs in).
    pub async fn non_admin_token(&self, name: &str) -> String {
        let user = self
            .ws_call(json!({"type": "config/auth/create", "name": name,
                            "group_ids": ["system-users"], "local_only": false}))
            .await;
        let user_id = user["user"]["id"].as_str().expect("a user").to_owned();
        let password = "a-password-for-the-test-only";
        let made = self
            .ws_answer(
                &self.token,
                json!({"type": "config/auth_provider/homeassistant/create",
                       "user_id": user_id, "username": name, "password": password}),
            )
            .await;
        assert_eq!(made["success"], true, "{made}");
        let client_id = format!("{}/", self.url);
        let http = reqwest::Client::new();
        let flow: Value = http
            .post(format!("{}/auth/login_flow", self.url))
            .json(
                &json!({"client_id": client_id, "handler": ["homeassistant", null],
                          "redirect_uri": client_id}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done: Value = http
            .post(format!(
                "{}/auth/login_flow/{}",
                self.url,
                flow["flow_id"].as_str().unwrap()
            ))
            .json(&json!({"client_id": client_id, "username": name, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = done["result"].as_str().expect("signed in").to_owned();
        let token: Value = http
            .post(format!("{}/auth/token", self.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", client_id.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn remove_config_entry(&self, entry_id: &str) {
        let (status, answer) = self
            .call(
                reqwest::Method::DELETE,
                &format!("/api/config/config_entries/entry/{entry_id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// A websocket subscribed to one event type of a real Core.
pub struct Subscription {
    ws: WebSocket,
}

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Subscription {
    async fn next_message(&mut self) -> Value {
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), self.ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).unwrap(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no message from Core within 30 s: {other:?}"),
            }
        }
    }

    /// The next event (`event_type`, `data`, `origin`, `context`…); panics after 30 s.
    pub async fn next_event(&mut self) -> Value {
        loop {
            let message = self.next_message().await;
            if message["type"] == "event" {
                return message["event"].clone();
            }
        }
    }
}

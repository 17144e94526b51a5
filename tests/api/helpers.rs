use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use kopia_webhook::app::{Application, Stopper};
use kopia_webhook::config::Settings;
use serde_json::Value;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const CORE_TOKEN: &str = "test-core-token-0123456789";
pub use crate::kopia::{FIXTURES, kopia_message};

pub struct TestApp {
    pub webhook_base: String,
    pub ui_base: String,
    pub client: reqwest::Client,
    stopper: Stopper,
    task: tokio::task::JoinHandle<()>,
}

/// A fake Core that accepts every state (201), like Core does for a new entity.
pub async fn fake_core() -> MockServer {
    let core = MockServer::start().await;
    mount_accept_all(&core).await;
    core
}

/// Accepts states (201), events (200) and removals (200), as Core does.
pub async fn mount_accept_all(core: &MockServer) {
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/states/.+$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({})))
        .mount(core)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/events/.+$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"message": "Event fired."})),
        )
        .mount(core)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/services/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(core)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/api/states/.+$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"message": "Entity removed."})),
        )
        .mount(core)
        .await;
}

/// Every request Core received with this method and path.
pub async fn requests_to(core: &MockServer, verb: &str, path: &str) -> Vec<Request> {
    core.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == path)
        .collect()
}

/// Waits (at most `seconds`) until `check` holds.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds * 10 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting: {what}");
}

/// Starts the real app on port 0 with its data in `data_dir`, pushing to `core` if given.
pub async fn spawn_app(data_dir: &Path, core: Option<&MockServer>) -> TestApp {
    spawn_app_with(data_dir, core, &[]).await
}

/// [`spawn_app`] with extra environment variables (they win over the test defaults).
pub async fn spawn_app_with(
    data_dir: &Path,
    core: Option<&MockServer>,
    extra: &[(&str, &str)],
) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut env: HashMap<String, String> = HashMap::from([
        (
            "KOPIA_WEBHOOK_DATA_DIR".into(),
            data_dir.display().to_string(),
        ),
        ("KOPIA_WEBHOOK_LISTEN".into(), "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_UI_LISTEN".into(), "127.0.0.1:0".into()),
    ]);
    if let Some(core) = core {
        env.insert("KOPIA_WEBHOOK_CORE_URL".into(), core.uri());
        env.insert("KOPIA_WEBHOOK_CORE_TOKEN".into(), CORE_TOKEN.into());
    }
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::load(|k| env.get(k).cloned()).expect("test settings");
    let app = Application::build(settings).await.expect("app starts");
    let webhook_base = format!("http://127.0.0.1:{}", app.webhook_port());
    let ui_base = format!("http://127.0.0.1:{}", app.ui_port());
    let stopper = app.stopper();
    let task = tokio::spawn(async move {
        let _ = app.run_until_stopped().await;
    });
    TestApp {
        webhook_base,
        ui_base,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stopper,
        task,
    }
}

impl TestApp {
    pub async fn stop(self) {
        self.stopper.stop().await;
        let _ = self.task.await;
    }

    /// Creates a monitor through the JSON API and returns its JSON.
    pub async fn create_monitor(&self, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/api/monitors", self.ui_base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {body}");
        response.json().await.unwrap()
    }

    pub fn webhook_path(&self, monitor: &Value) -> String {
        format!(
            "{}/api/webhook/{}",
            self.webhook_base,
            monitor["webhook_id"].as_str().unwrap()
        )
    }

    /// Posts a Kopia fixture exactly as Kopia sends it: no Content-Type, Subject header.
    pub async fn post_kopia(&self, monitor: &Value, fixture: &str) -> reqwest::Response {
        crate::kopia::send_kopia(&self.client, &self.webhook_path(monitor), fixture).await
    }

    /// Posts `body` to the monitor's webhook URL, as a backup tool would.
    pub async fn post_webhook(
        &self,
        monitor: &Value,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.webhook_path(monitor))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A JSON answer of the panel's API.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.get_ui(path).await.json().await.unwrap()
    }

    pub async fn events(&self, key: &str, query: &str) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/api/monitors/{key}/events{query}", self.ui_base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn get_ui(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.ui_base))
            .send()
            .await
            .unwrap()
    }
}

/// The state bodies Core received for one entity, oldest first.
pub async fn states_received(core: &MockServer, entity_id: &str) -> Vec<(Request, Value)> {
    let wanted = format!("/api/states/{entity_id}");
    core.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == wanted)
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap();
            (r, body)
        })
        .collect()
}

/// Waits until Core has received a state for `entity_id` that satisfies `check`.
pub async fn wait_for_state(
    core: &MockServer,
    entity_id: &str,
    check: impl Fn(&Value) -> bool,
) -> (Request, Value) {
    wait_for_state_within(core, entity_id, 10, check).await
}

pub async fn wait_for_state_within(
    core: &MockServer,
    entity_id: &str,
    seconds: u64,
    check: impl Fn(&Value) -> bool,
) -> (Request, Value) {
    for _ in 0..seconds * 10 {
        if let Some(found) = states_received(core, entity_id)
            .await
            .into_iter()
            .rev()
            .find(|(_, b)| check(b))
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen: Vec<Value> = states_received(core, entity_id)
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    panic!("Core never received the expected state for {entity_id}; it received {seen:#?}");
}

//! The companion integration (`custom_components/kopia_webhook`) in a real Home Assistant
//! Core 2026.11: set up through Core's config flow with the add-on's address and key, it
//! relays what arrives at Core's own `/api/webhook/<id>` to the add-on. And installed over
//! the HACS integration it replaces, it keeps that integration's webhook URLs working. Without
//! a Supervisor (Home Assistant Container) it shows the engine's panel in Core's sidebar to
//! administrators only, and gives the engine (its binary, as a process) a token of a user of
//! its own for the entities, removed with the integration.
//!
//! Ignored in a plain `cargo test`; `.ci/run` starts Core with this repository's
//! integration in its `custom_components` and runs it with `--ignored`:
//!
//!     export REALHA_CUSTOM_COMPONENTS=$PWD/custom_components
//!     set -a; eval "$(tools/realha/start.sh)"; set +a
//!     cargo test --test real_core_integration -- --ignored --test-threads=1
//!
//! The replaced integration itself: with `KOPIA_OLD_INTEGRATION=<dir>` (a folder holding
//! its `kopia_webhook/`, fetched from github.com/SpaceFrags/kopia_webhook, never committed)
//! the migration test installs it in Core, makes an entry through its own config flow and
//! feeds it a report first. Without it (CI reaches only package registries), the test
//! writes the entry that integration leaves in Core's storage, while Core is stopped.

#[allow(dead_code)]
mod support {
    pub mod chromium;
    pub mod kopia;
    pub mod process;
    pub mod realha;
}

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use kopia_webhook::app::{Application, Stopper};
use kopia_webhook::config::Settings;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use support::kopia::kopia_message;
use support::realha::Core;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The add-on, pushing to the real Core, its webhook port on 127.0.0.1 (where the chroot's
/// Core reaches it).
struct Addon {
    ui: String,
    webhooks: String,
    http: reqwest::Client,
    running: Running,
    _data: tempfile::TempDir,
}

/// How the engine runs: in this process, or as its binary in a process of its own.
enum Running {
    Here {
        stopper: Stopper,
        server: tokio::task::JoinHandle<std::io::Result<()>>,
    },
    Process(support::process::Running),
}

impl Addon {
    async fn start(core: &Core) -> Self {
        Self::start_with(Some(core)).await
    }

    /// The engine, given Core's address and a token (`None`: neither, as beside Home
    /// Assistant Container before the integration hands them over).
    async fn start_with(core: Option<&Core>) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut env: HashMap<&str, String> = HashMap::from([
            ("KOPIA_WEBHOOK_DATA_DIR", data.path().display().to_string()),
            ("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0".into()),
            ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0".into()),
        ]);
        if let Some(core) = core {
            env.insert("KOPIA_WEBHOOK_CORE_URL", core.url.clone());
            env.insert("KOPIA_WEBHOOK_CORE_TOKEN", core.token.clone());
        }
        let app = Application::build(Settings::load(|k| env.get(k).cloned()).unwrap())
            .await
            .unwrap();
        Self {
            ui: format!("http://127.0.0.1:{}", app.ui_port()),
            webhooks: format!("http://127.0.0.1:{}", app.webhook_port()),
            http: reqwest::Client::new(),
            running: Running::Here {
                stopper: app.stopper(),
                server: tokio::spawn(app.run_until_stopped()),
            },
            _data: data,
        }
    }

    /// The engine's binary as a process of its own, with no Home Assistant settings: as
    /// `compose.yaml` runs it beside Home Assistant Container.
    fn start_process() -> Self {
        let data = tempfile::tempdir().unwrap();
        let process = support::process::Running::start(data.path(), &[]);
        Self {
            ui: process.ui_base.clone(),
            webhooks: process.webhook_base.clone(),
            http: reqwest::Client::new(),
            running: Running::Process(process),
            _data: data,
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.ui))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn create_monitor(&self, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/api/monitors", self.ui))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        response.json().await.unwrap()
    }

    async fn events(&self, key: &str) -> Vec<Value> {
        serde_json::from_value(self.get(&format!("/api/monitors/{key}/events")).await).unwrap()
    }

    /// Sets up the integration in Core through its config flow, as a user does (after
    /// removing the entry a failed run may have left: there is one add-on per Core).
    async fn connect(&self, core: &Core) -> String {
        for entry in core.config_entries("kopia_webhook").await {
            if entry["title"] == "Kopia Webhook Status" {
                core.remove_config_entry(entry["entry_id"].as_str().unwrap())
                    .await;
            }
        }
        let key = self.get("/api/status").await["integration_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let created = core
            .config_flow("kopia_webhook", json!({"url": self.webhooks, "key": key}))
            .await;
        assert_eq!(created["type"], "create_entry", "{created}");
        created["result"]["entry_id"].as_str().unwrap().to_owned()
    }

    async fn stop(self) {
        match self.running {
            Running::Here { stopper, server } => {
                stopper.stop().await;
                let _ = server.await;
            }
            Running::Process(process) => {
                let log = process.stop();
                assert!(!log.contains("ERROR"), "the engine's log:\n{log}");
            }
        }
    }
}

/// Posts to Core's own webhook URL until the integration has registered the ID (Core answers
/// an unknown ID with an empty 200).
async fn post_to_core(
    core: &Core,
    webhook_id: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let http = reqwest::Client::new();
    for _ in 0..150 {
        let mut request = http
            .post(format!("{}/api/webhook/{webhook_id}{query}", core.url))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        if !(status == 200 && text.is_empty()) {
            return (status, text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Core never relayed webhook {}…", &webhook_id[..4]);
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
#[ignore = "needs a real Home Assistant Core with the integration: see the module documentation"]
async fn reports_to_cores_own_url_reach_the_addon_as_sent() {
    let core = Core::from_env();
    let addon = Addon::start(&core).await;
    let entry_id = addon.connect(&core).await;
    let run = std::process::id();

    // Kopia's text report with its Subject.
    let laptop = addon
        .create_monitor(json!({"name": format!("Laptop {run}")}))
        .await;
    let (headers, body) = kopia_message("snapshot-report.txt.default.expected");
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let id = laptop["webhook_id"].as_str().unwrap();
    let (status, answer) = post_to_core(&core, id, "", &headers, body.as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let key = laptop["key"].as_str().unwrap();
    let events = addon.events(key).await;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer, json!({"ok": true, "events": events.len()}));
    assert_eq!(
        events[0]["host"], "some-host",
        "the Subject reached the add-on"
    );

    // SimpleBackups, signed: verified by the add-on; a wrong signature gets its 401.
    let secret = "simplebackups-secret-for-core";
    let signed = addon
        .create_monitor(json!({"name": format!("SB {run}"), "secret": secret}))
        .await;
    let body = std::fs::read(format!("{FIXTURES}/simplebackups/success.json")).unwrap();
    let id = signed["webhook_id"].as_str().unwrap();
    let good = hmac_hex(secret, &body);
    let json_type = ("Content-Type", "application/json");
    let (status, answer) =
        post_to_core(&core, id, "", &[json_type, ("SB-Signature", &good)], &body).await;
    assert_eq!(status, 200, "{answer}");
    let forged = hmac_hex("not the secret", &body);
    let (status, answer) = post_to_core(
        &core,
        id,
        "",
        &[json_type, ("SB-Signature", &forged)],
        &body,
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("signature"), "{answer}");
    let events = addon.events(signed["key"].as_str().unwrap()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["sender"], "simplebackups");

    // An Uptime Kuma push: its query string arrives.
    let kuma = addon
        .create_monitor(json!({"name": format!("Kuma {run}")}))
        .await;
    let id = kuma["webhook_id"].as_str().unwrap();
    let (status, answer) = post_to_core(&core, id, "?status=down&msg=disk%20full", &[], b"").await;
    assert_eq!((status, answer.as_str()), (200, r#"{"ok":true}"#));
    let events = addon.events(kuma["key"].as_str().unwrap()).await;
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["error"], "disk full");

    // Home Assistant's action pauses the monitor (a script, a dashboard button).
    let kuma_key = kuma["key"].as_str().unwrap();
    let (status, answer) = core
        .call(
            Method::POST,
            "/api/services/kopia_webhook/pause",
            Some(json!({"monitor": format!("sensor.kopia_{kuma_key}"), "duration": "02:00:00"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let paused = addon.get(&format!("/api/monitors/{kuma_key}")).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    println!(
        "paused through Core's action: until {}",
        paused["paused_until"]
    );
    let (status, _) = core
        .call(
            Method::POST,
            "/api/services/kopia_webhook/resume",
            Some(json!({"monitor": kuma_key})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        addon.get(&format!("/api/monitors/{kuma_key}")).await["status"],
        "failed"
    );

    core.remove_config_entry(&entry_id).await;
    addon.stop().await;
}

/// The webhook ID an entry of the replaced integration has in this test run.
fn old_webhook_id() -> String {
    format!("kopia_nas_{}", std::process::id())
}

#[tokio::test]
#[ignore = "needs a real Home Assistant Core with the integration: see the module documentation"]
async fn the_replaced_integrations_url_keeps_working() {
    let core = Core::from_env();
    let ours = std::env::var("REALHA_CUSTOM_COMPONENTS")
        .expect("REALHA_CUSTOM_COMPONENTS names this repository's custom_components");
    let old_id = old_webhook_id();
    let old_entities = match std::env::var("KOPIA_OLD_INTEGRATION") {
        Ok(old) => install_the_old_integration(&core, &old, &old_id).await,
        Err(_) => {
            write_an_old_entry(&core, &old_id);
            Vec::new()
        }
    };
    // This integration over it: the same folder, the same domain.
    core.restart_with(&[("REALHA_CUSTOM_COMPONENTS", &ours)]);
    let entries = core.config_entries("kopia_webhook").await;
    assert!(
        entries
            .iter()
            .any(|e| e["title"].as_str().unwrap_or("").contains(&old_id)),
        "the old entry is still there, waiting for the add-on: {entries:?}"
    );
    let addon = Addon::start(&core).await;
    let entry_id = addon.connect(&core).await;

    let mut adopted = None;
    for _ in 0..150 {
        let monitors: Vec<Value> =
            serde_json::from_value(addon.get("/api/monitors").await).unwrap();
        adopted = monitors
            .into_iter()
            .find(|m| m["webhook_id"] == old_id.as_str());
        if adopted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let adopted = adopted.expect("the old entry became a monitor with its webhook ID");
    let (headers, body) = kopia_message("snapshot-report.txt.success.expected");
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, answer) = post_to_core(&core, &old_id, "", &headers, body.as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let events = addon.events(adopted["key"].as_str().unwrap()).await;
    assert!(
        !events.is_empty(),
        "Kopia's unchanged URL stores its report"
    );
    let remaining = core.config_entries("kopia_webhook").await;
    assert_eq!(
        remaining.len(),
        1,
        "only the add-on's entry is left: {remaining:?}"
    );
    for entity_id in old_entities {
        assert!(
            core.entity_entry(&entity_id).await.is_none(),
            "{entity_id} of the old integration is removed"
        );
    }
    core.remove_config_entry(&entry_id).await;
    addon.stop().await;
}

/// Runs the replaced integration itself: installed in Core, an entry made through its own
/// config flow, a report posted to its URL. Its sensors' entity IDs.
async fn install_the_old_integration(core: &Core, old: &str, old_id: &str) -> Vec<String> {
    core.restart_with(&[("REALHA_CUSTOM_COMPONENTS", old)]);
    let created = core
        .config_flow(
            "kopia_webhook",
            json!({"webhook_id": old_id, "history_limit": 10}),
        )
        .await;
    assert_eq!(created["type"], "create_entry", "{created}");
    let report = json!({"path": "/data", "status": "success", "size": "1 GB"});
    let response = reqwest::Client::new()
        .post(format!("{}/api/webhook/{old_id}", core.url))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let entities = core.ws("config/entity_registry/list").await;
    let old: Vec<String> = entities
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["platform"] == "kopia_webhook"
                && e["unique_id"]
                    .as_str()
                    .is_some_and(|u| u.starts_with(old_id))
        })
        .map(|e| e["entity_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!old.is_empty(), "the old integration made its sensors");
    old
}

/// What the replaced integration leaves in Core's storage: a version 2 entry with its
/// webhook ID and history limit, written while Core is stopped (from an entry of this Core,
/// so the file's shape is this Core's).
fn write_an_old_entry(core: &Core, old_id: &str) {
    let realha = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/realha");
    assert!(
        std::process::Command::new(format!("{realha}/stop.sh"))
            .status()
            .unwrap()
            .success()
    );
    let dir = std::env::var("REALHA_DIR").unwrap_or_else(|_| "/tmp/realha".into());
    let version = std::env::var("REALHA_HA_VERSION").unwrap_or_else(|_| "2026.11.0".into());
    let path = format!("{dir}/config-{version}/.storage/core.config_entries");
    let mut stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let entries = stored["data"]["entries"].as_array_mut().unwrap();
    let mut old = entries
        .first()
        .cloned()
        .expect("Core has at least one entry (MQTT's) to copy the shape of");
    old["entry_id"] = json!(format!("01OLDKOPIA{:016}", std::process::id()));
    old["domain"] = json!("kopia_webhook");
    old["title"] = json!(format!("Kopia Status ({old_id})"));
    old["data"] = json!({"webhook_id": old_id, "history_limit": 10});
    old["options"] = json!({});
    old["version"] = json!(2);
    old["minor_version"] = json!(1);
    old["source"] = json!("user");
    old["unique_id"] = Value::Null;
    old["disabled_by"] = Value::Null;
    if old.get("subentries").is_some() {
        old["subentries"] = json!([]);
    }
    entries.push(old);
    std::fs::write(&path, serde_json::to_string_pretty(&stored).unwrap()).unwrap();
    let _ = core;
}

/// Without a Supervisor the integration puts the engine's panel in Core's sidebar: pages
/// through Core, for a live session of an administrator only.
#[tokio::test]
#[ignore = "needs a real Home Assistant Core with the integration: see the module documentation"]
async fn the_sidebar_panel_shows_the_engine_to_administrators_only() {
    let core = Core::from_env();
    let addon = Addon::start(&core).await;
    let entry_id = addon.connect(&core).await;
    let mut panel = Value::Null;
    for _ in 0..100 {
        panel = core.ws("get_panels").await["kopia-backups"].clone();
        if !panel.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        panel["title"], "Backups",
        "the panel is in the sidebar (Core's frontend is loaded: REALHA_EXTRA_YAML)"
    );
    assert_eq!(panel["require_admin"], true);

    let answer = core
        .ws_answer(&core.token, json!({"type": "kopia_webhook/panel_session"}))
        .await;
    assert_eq!(answer["success"], true, "{answer}");
    let session = answer["result"]["session"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let page = |cookie: Option<String>| {
        let mut request = http.get(format!("{}/api/kopia_webhook/panel/", core.url));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        request.send()
    };
    let shown = page(Some(format!("kopia_webhook_session={session}")))
        .await
        .unwrap();
    assert_eq!(shown.status().as_u16(), 200);
    let html = shown.text().await.unwrap();
    assert!(
        html.contains(r#"<base href="/api/kopia_webhook/panel/">"#),
        "{html}"
    );
    assert_eq!(page(None).await.unwrap().status().as_u16(), 401);

    let user = core
        .non_admin_token(&format!("viewer{}", std::process::id()))
        .await;
    let refused = core
        .ws_answer(&user, json!({"type": "kopia_webhook/panel_session"}))
        .await;
    assert_eq!(refused["success"], false, "{refused}");
    assert_eq!(refused["error"]["code"], "unauthorized");

    core.remove_config_entry(&entry_id).await;
    assert!(core.ws("get_panels").await["kopia-backups"].is_null());
    let after = page(Some(format!("kopia_webhook_session={session}")))
        .await
        .unwrap();
    assert_eq!(
        after.status().as_u16(),
        401,
        "the session ends with the entry"
    );
    addon.stop().await;
}

/// The panel as a person sees it: Home Assistant's own frontend, signed in, the "Backups"
/// entry in its sidebar opening the engine's dashboard in the frame.
#[tokio::test]
#[ignore = "needs a real Home Assistant Core with the integration: see the module documentation"]
async fn the_sidebar_panel_in_home_assistants_frontend() {
    let core = Core::from_env();
    let addon = Addon::start(&core).await;
    let entry_id = addon.connect(&core).await;
    addon
        .create_monitor(json!({"name": format!("Sidebar {}", std::process::id())}))
        .await;
    // The frontend shows onboarding until its last steps are done (tools/realha made the
    // owner only); done as the onboarding pages do (a step done before answers 403, and
    // 404 once onboarding is over).
    let client_id = format!("{}/", core.url);
    for (step, body) in [
        ("core_config", json!({})),
        ("analytics", json!({})),
        (
            "integration",
            json!({"client_id": client_id, "redirect_uri": format!("{client_id}?auth_callback=1")}),
        ),
    ] {
        let (status, answer) = core
            .call(Method::POST, &format!("/api/onboarding/{step}"), Some(body))
            .await;
        assert!(
            matches!(status, 200 | 403 | 404),
            "onboarding {step}: {status} {answer}"
        );
    }
    let (_driver, browser) = support::chromium::start_browser().await;
    // Signed in as the frontend keeps it: tokens in local storage.
    browser.goto(&format!("{}/", core.url)).await.unwrap();
    browser
        .execute(
            "localStorage.setItem('hassTokens', JSON.stringify({access_token: arguments[0], \
             token_type: 'Bearer', expires_in: 1800, hassUrl: location.origin, \
             clientId: location.origin + '/', expires: Date.now() + 86400000, refresh_token: ''}));",
            vec![json!(core.token)],
        )
        .await
        .unwrap();
    browser
        .goto(&format!("{}/kopia-backups", core.url))
        .await
        .unwrap();
    // The panel asked for a session and set its cookie: the proxy now answers this browser.
    let mut status = json!(0);
    for _ in 0..100 {
        status = browser
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch('/api/kopia_webhook/panel/', {credentials: 'same-origin'}) \
                   .then(r => done(r.status), () => done(0));",
                vec![],
            )
            .await
            .unwrap();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if status != 200 {
        support::chromium::screenshot(&browser, "16-home-assistant-sidebar-panel").await;
    }
    assert_eq!(
        status, 200,
        "the panel's session reaches the engine's pages"
    );
    // The frame's pages (fonts, styles) settle before the picture; a dialog of Core's own
    // about tools/realha's HTTP settings is closed first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = browser
        .execute(
            "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));",
            vec![],
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    support::chromium::screenshot(&browser, "16-home-assistant-sidebar-panel").await;
    browser.close().await.unwrap();
    core.remove_config_entry(&entry_id).await;
    addon.stop().await;
}

/// Home Assistant Container: the engine has no token; the integration makes a user of its
/// own and hands its token over; a report's entities reach Core with it; removing the
/// integration removes the user (its token with it).
#[tokio::test]
#[ignore = "needs a real Home Assistant Core with the integration: see the module documentation"]
async fn the_integration_gives_the_engine_its_entities_token() {
    let core = Core::from_env();
    // Core's address on the network, as set under Settings → System → Network (tools/realha's
    // Core listens on 127.0.0.1 only, not on the machine's address Core would guess).
    let set = core
        .ws_answer(
            &core.token,
            json!({"type": "config/core/update", "internal_url": core.url}),
        )
        .await;
    assert_eq!(set["success"], true, "{set}");
    let addon = Addon::start_process();
    assert_eq!(
        addon.get("/api/status").await["home_assistant"]["enabled"],
        false
    );
    let entry_id = addon.connect(&core).await;
    let mut enabled = false;
    for _ in 0..100 {
        enabled = addon.get("/api/status").await["home_assistant"]["enabled"] == true;
        if enabled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(enabled, "the engine got Home Assistant's connection");
    let monitor = addon
        .create_monitor(json!({"name": format!("Handed {}", std::process::id())}))
        .await;
    let response = reqwest::Client::new()
        .post(monitor["webhook_url"].as_str().unwrap())
        .body(r#"{"status":"success","source":"db","size_bytes":1000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let entity = format!("sensor.kopia_{}", monitor["key"].as_str().unwrap());
    core.wait_for(&entity, |s| s["state"] == "success").await;

    let users = core.ws("config/auth/list").await;
    let user = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Kopia Webhook Status" && u["system_generated"] == true)
        .cloned()
        .expect("the engine's user");
    assert!(
        user["group_ids"]
            .as_array()
            .unwrap()
            .contains(&json!("system-admin"))
    );

    core.remove_config_entry(&entry_id).await;
    let users = core.ws("config/auth/list").await;
    assert!(
        !users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == user["id"]),
        "the engine's user (and token) went with the integration"
    );
    assert_eq!(
        addon.get("/api/status").await["home_assistant"]["enabled"],
        false
    );
    core.ws_answer(
        &core.token,
        json!({"type": "config/core/update", "internal_url": null}),
    )
    .await;
    addon.stop().await;
}

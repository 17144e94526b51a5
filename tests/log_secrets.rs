//! A full scenario with the most detailed logging there is (`trace`), against a fake Core
//! that speaks REST and the websocket: no webhook ID, secret or Core token appears in the
//! logs (masked forms such as `abcd…` are fine), in any encoding.

// Each test binary uses part of the shared helpers.
#[allow(dead_code)]
mod support {
    pub mod process;
    pub mod ws_core;
}

use serde_json::{Value, json};
use support::process::Running;
use support::ws_core::WsCore;

const CORE_TOKEN: &str = "core-token-that-must-never-be-logged-0123456789";
const SECRET: &str = "monitor-secret-that-must-never-be-logged";
const CHOSEN_ID: &str = "chosen-webhook-id-never-logged-42";
const LEGACY_ID: &str = "legacy_entry_id_never_logged";
/// A Healthchecks check's UUID in the heartbeat URL (nothing listens there: its error is
/// logged too).
const HEARTBEAT_UUID: &str = "heartbeat-uuid-never-logged-77";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let core = WsCore::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("options.json"), r#"{"log_level": "trace"}"#).unwrap();
    let app = Running::start(
        dir.path(),
        &[
            ("KOPIA_WEBHOOK_CORE_URL", &core.url),
            ("KOPIA_WEBHOOK_CORE_TOKEN", CORE_TOKEN),
            ("KOPIA_WEBHOOK_RECONCILE_SECS", "1"),
            (
                "KOPIA_WEBHOOK_HEARTBEAT_URL",
                &format!("http://127.0.0.1:9/ping/{HEARTBEAT_UUID}"),
            ),
        ],
    );
    let http = reqwest::Client::new();
    let signed: Value = app
        .create_monitor(json!({"name": "Signed", "secret": SECRET}))
        .await;
    let chosen: Value = app
        .create_monitor(json!({"name": "Chosen", "webhook_id": CHOSEN_ID}))
        .await;
    let generated_id = signed["webhook_id"].as_str().unwrap().to_owned();
    let status: Value = http
        .get(format!("{}/api/status", app.ui_base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ping_key = status["ping_key"].as_str().unwrap().to_owned();
    let report = r#"{"status":"failed","source":"db","error":"disk full"}"#;

    for (url, auth) in requests_holding_secrets(&app.webhook_base, &generated_id, &ping_key) {
        let mut request = http.post(url).body(report);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap();
    }
    // The companion integration: relays with the key and with a mistyped one, the monitor
    // list, and taking over an old entry (its webhook ID is a secret too).
    let integration_key = status["integration_key"].as_str().unwrap().to_owned();
    let mistyped_key = format!("{integration_key}x");
    for key in [&integration_key, &mistyped_key] {
        for url in [
            format!("{}/api/integration/relay/{CHOSEN_ID}", app.webhook_base),
            format!(
                "{}/api/integration/relay/{CHOSEN_ID}?event=fail",
                app.webhook_base
            ),
            format!("{}/api/integration/relay/{LEGACY_ID}x", app.webhook_base),
        ] {
            http.post(url)
                .header("x-kopia-webhook-key", key.as_str())
                .body(report)
                .send()
                .await
                .unwrap();
        }
        http.get(format!("{}/api/integration/monitors", app.webhook_base))
            .header("x-kopia-webhook-key", key.as_str())
            .send()
            .await
            .unwrap();
        http.post(format!("{}/api/integration/legacy", app.webhook_base))
            .header("x-kopia-webhook-key", key.as_str())
            .json(&json!({"webhook_id": LEGACY_ID}))
            .send()
            .await
            .unwrap();
    }
    // Edits, a page view and a reconcile round.
    http.patch(format!("{}/api/monitors/chosen", app.ui_base))
        .json(&json!({"secret": "another-secret-value-xyz"}))
        .send()
        .await
        .unwrap();
    http.get(format!("{}/monitors/signed", app.ui_base))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let log = app.stop();
    assert!(log.contains("webhook stored"), "the scenario ran: {log}");
    assert!(log.contains("TRACE"), "trace logging was on");
    assert!(
        log.contains("the heartbeat URL did not take the ping"),
        "the heartbeat's error was logged: {log}"
    );
    assert_eq!(
        core.tokens.lock().unwrap().as_slice(),
        [CORE_TOKEN, CORE_TOKEN, CORE_TOKEN],
        "the three websockets were used (the watcher's, the events' and the backups'), each authenticated once"
    );
    assert!(
        !core.socket_events.lock().unwrap().is_empty(),
        "events went over the websocket"
    );
    assert_no_secret_in(
        &log,
        &[
            CORE_TOKEN,
            SECRET,
            CHOSEN_ID,
            &generated_id,
            "another-secret-value-xyz",
            &ping_key,
            chosen["webhook_id"].as_str().unwrap(),
            &integration_key,
            &mistyped_key,
            LEGACY_ID,
            HEARTBEAT_UUID,
        ],
    );
}

/// None of `secrets` in the log, the Core token not even hex-encoded.
fn assert_no_secret_in(log: &str, secrets: &[&str]) {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    assert!(
        !log.contains(&hex(CORE_TOKEN)),
        "the Core token appears hex-encoded in the log:\n{log}"
    );
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "{secret:?} appears in the log:\n{log}"
        );
    }
}

/// Every kind of request, each holding a secret somewhere (an ID, a key, a token), and the
/// bearer token to send with it.
fn requests_holding_secrets(
    webhook_base: &str,
    generated_id: &str,
    ping_key: &str,
) -> Vec<(String, Option<&'static str>)> {
    vec![
        (
            format!("{}/api/webhook/{generated_id}", webhook_base),
            Some(SECRET),
        ),
        (
            format!("{}/api/webhook/{generated_id}", webhook_base),
            Some("wrong"),
        ),
        (format!("{}/api/webhook/{generated_id}", webhook_base), None),
        (format!("{}/api/webhook/{CHOSEN_ID}", webhook_base), None),
        (format!("{}/ping/{CHOSEN_ID}/start", webhook_base), None),
        (
            format!(
                "{}/ping/{ping_key}/made-by-a-ping/start?create=1",
                webhook_base
            ),
            None,
        ),
        (
            format!(
                "{}/api/webhook/{ping_key}/made-by-a-report?create=1",
                webhook_base
            ),
            None,
        ),
        (format!("{}/ping/{CHOSEN_ID}/1", webhook_base), None),
        (format!("{}/ping/{CHOSEN_ID}?rid=bad", webhook_base), None),
        (
            format!("{}/api/push/{CHOSEN_ID}?status=down&msg=x", webhook_base),
            None,
        ),
        // Mistyped URLs: each still holds a secret.
        (format!("{}/api/webhooks/{CHOSEN_ID}", webhook_base), None),
        (format!("{}/ping//{CHOSEN_ID}", webhook_base), None),
        (format!("{}/api/webhook//{CHOSEN_ID}", webhook_base), None),
        (format!("{}/hooks/{generated_id}/x", webhook_base), None),
        (
            format!("{}/api/webhook/{ping_key}/Made-By-A-Report", webhook_base),
            None,
        ),
        (
            format!("{}/api/webhook/{}x", webhook_base, &CHOSEN_ID[..20]),
            None,
        ),
        (format!("{}/message?token={CHOSEN_ID}", webhook_base), None),
        (format!("{}/ntfy/{CHOSEN_ID}", webhook_base), None),
        (format!("{}/{CHOSEN_ID}", webhook_base), None),
    ]
}

//! `compose.yaml` (the engine beside Home Assistant Container), read as Docker Compose reads
//! it and replayed natively (no Docker engine here): its build names the add-on's Dockerfile
//! and context, its volume is the data directory its environment names, every variable it
//! sets is one the engine reads, and the binary run with that environment answers the image's
//! health check, keeps its panel on loopback, and prints the integration key for
//! `docker compose exec … kopia-webhook integration-key`.

#[allow(dead_code)]
mod support {
    pub mod process;
}

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::process::Running;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn service() -> serde_norway::Value {
    let text = std::fs::read_to_string(format!("{ROOT}/compose.yaml")).unwrap();
    let compose: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    compose["services"]["kopia-webhook"].clone()
}

fn environment(service: &serde_norway::Value) -> BTreeMap<String, String> {
    serde_norway::from_value(service["environment"].clone()).unwrap()
}

#[test]
fn compose_builds_the_add_ons_image_and_keeps_its_data_in_a_volume() {
    let service = service();
    let build = &service["build"];
    let context = Path::new(ROOT).join(build["context"].as_str().unwrap());
    let dockerfile = context.join(build["dockerfile"].as_str().unwrap());
    assert!(dockerfile.is_file(), "{}", dockerfile.display());
    // The Dockerfile's build context is the repository root (it copies Cargo.toml, src…).
    assert!(context.join("Cargo.toml").is_file());
    assert_eq!(
        service["image"].as_str().unwrap().split(':').next(),
        Some("ghcr.io/kopia-webhook-status/kopia-webhook"),
        "the add-on's image (config.yaml)"
    );
    assert_eq!(service["restart"].as_str(), Some("unless-stopped"));
    assert_eq!(service["network_mode"].as_str(), Some("host"));
    let env = environment(&service);
    let data_dir = &env["KOPIA_WEBHOOK_DATA_DIR"];
    let volumes: Vec<String> = serde_norway::from_value(service["volumes"].clone()).unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v.split(':').nth(1) == Some(data_dir.as_str())),
        "the data directory {data_dir} is a volume: {volumes:?}"
    );
    for name in env.keys() {
        assert!(
            name.starts_with("KOPIA_WEBHOOK_"),
            "{name} is not a setting the engine reads"
        );
    }
    // Every setting it gives is one the engine accepts.
    let mut settings = env.clone();
    settings.insert("KOPIA_WEBHOOK_DATA_DIR".into(), "/nonexistent".into());
    let loaded = kopia_webhook::config::Settings::load(|k| settings.get(k).cloned()).unwrap();
    assert!(
        loaded.ui_listen.ip().is_loopback(),
        "without a Supervisor the panel's port is on loopback only"
    );
    assert!(loaded.webhook_listen.ip().is_unspecified());
    assert!(
        loaded.options.problems.is_empty(),
        "{:?}",
        loaded.options.problems
    );
}

#[tokio::test]
async fn the_engine_run_as_compose_runs_it_answers_its_health_check_and_prints_its_key() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let service = service();
    let dir = tempfile::tempdir().unwrap();
    // Compose's environment, with the data directory in a temporary one and the ports the
    // test chose (the test cannot own 8098 and 8099).
    let env: Vec<(String, String)> = environment(&service)
        .into_iter()
        .filter(|(k, _)| k != "KOPIA_WEBHOOK_DATA_DIR")
        .collect();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let engine = Running::start(dir.path(), &env_refs);
    // The image's HEALTHCHECK: GET /healthz on the webhook port.
    let health = reqwest::get(format!("{}/healthz", engine.webhook_base))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let status: Value = reqwest::get(format!("{}/api/status", engine.ui_base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = status["integration_key"].as_str().unwrap().to_owned();

    let printed = Command::new(env!("CARGO_BIN_EXE_kopia-webhook"))
        .arg("integration-key")
        .env_clear()
        .env("KOPIA_WEBHOOK_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    assert_eq!(String::from_utf8(printed.stdout).unwrap().trim(), key);
    let log = engine.stop();
    assert!(!log.contains(&key), "the key is printed, never logged");
}

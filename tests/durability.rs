//! Nothing acknowledged is lost: bursts of concurrent webhooks, `kill -9` at random moments,
//! restart, and every request that got its 200 is in the store. Several rounds.

// Each test binary uses part of the shared helpers.
#[allow(dead_code)]
mod support {
    pub mod process;
}

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::process::Running;

const ROUNDS: usize = 4;
const CONNECTIONS: usize = 32;

fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_survives_kill_9() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let unlimited = [
        ("KOPIA_WEBHOOK_RATE_PER_SEC", "100000"),
        ("KOPIA_WEBHOOK_RATE_BURST", "100000"),
    ];
    let http = reqwest::Client::new();
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut webhook_id = None;

    for round in 0..ROUNDS {
        let app = Running::start(dir.path(), &unlimited);
        let id = match &webhook_id {
            Some(id) => id,
            None => {
                let monitor: Value = app.create_monitor(json!({"name": "Durable"})).await;
                webhook_id.insert(monitor["webhook_id"].as_str().unwrap().to_owned())
            }
        };
        let url = format!("{}/api/webhook/{id}", app.webhook_base);
        let senders: Vec<_> = (0..CONNECTIONS)
            .map(|task| {
                let (http, url, acknowledged) =
                    (http.clone(), url.clone(), Arc::clone(&acknowledged));
                tokio::spawn(async move {
                    for n in 0.. {
                        let source = format!("r{round}-t{task}-n{n}");
                        let body = json!({"status": "success", "source": source}).to_string();
                        match http
                            .post(&url)
                            .body(body)
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await
                        {
                            Ok(r) if r.status().as_u16() == 200 => {
                                acknowledged.lock().unwrap().insert(source);
                            }
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150 + random_below(500))).await;
        app.kill_hard();
        for sender in senders {
            let _ = sender.await;
        }
    }

    let app = Running::start(dir.path(), &[]);
    let mut stored = HashSet::new();
    let mut before = String::new();
    loop {
        let page: Vec<Value> = http
            .get(format!(
                "{}/api/monitors/durable/events?limit=500{before}",
                app.ui_base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = format!("&before={}", last["id"]);
        stored.extend(
            page.iter()
                .map(|e| e["source"].as_str().unwrap().to_owned()),
        );
    }
    app.stop();
    let acknowledged = acknowledged.lock().unwrap();
    eprintln!(
        "{} acknowledged, {} stored after {ROUNDS} kill -9 rounds",
        acknowledged.len(),
        stored.len()
    );
    assert!(
        acknowledged.len() > ROUNDS * 10,
        "the bursts got through: {}",
        acknowledged.len()
    );
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}

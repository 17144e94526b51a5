//! `cargo bench --bench load`: prints the figures the README quotes, from one run on one
//! machine. It starts the release binary as a child process (real SQLite file, durable
//! commits), loads it over HTTP from this process, and compares it with an actix-web no-op
//! handler measured the same way (the ratio is the figure that travels between machines).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kopia_webhook::domain::Origin;
use kopia_webhook::domain::{
    BackupEvent, EventKind, MonitorName, NewMonitor, RunStatus, SenderKind, WebhookId,
};
use kopia_webhook::store::Store;

const CONNECTIONS: usize = 32;
const LOAD_SECONDS: u64 = 8;

fn main() {
    if std::env::var_os("KW_BENCH_NOOP").is_some() {
        return noop_server();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// The baseline: actix-web answering `{"ok":true}` after reading the body, nothing else.
fn noop_server() {
    actix_web::rt::System::new().block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        println!(
            "webhook listener ready port={}",
            listener.local_addr().unwrap().port()
        );
        actix_web::HttpServer::new(|| {
            actix_web::App::new().route(
                "/api/webhook/{id}",
                actix_web::web::post().to(|_body: actix_web::web::Bytes| async {
                    actix_web::HttpResponse::Ok().json(serde_json::json!({"ok": true, "events": 1}))
                }),
            )
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run()
        .await
        .unwrap();
    });
}

struct Server {
    child: Child,
    port: u16,
    ui_port: u16,
}

impl Server {
    fn app(data_dir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kopia-webhook"));
        command
            .env("KOPIA_WEBHOOK_DATA_DIR", data_dir)
            .env("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0")
            .env("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0")
            .env("KOPIA_WEBHOOK_RATE_PER_SEC", "1000000")
            .env("KOPIA_WEBHOOK_RATE_BURST", "1000000")
            .env("RUST_LOG", "warn,kopia_webhook::app=info");
        Self::start(command, true)
    }

    fn noop() -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.env("KW_BENCH_NOOP", "1");
        Self::start(command, false)
    }

    /// Starts the server on port 0 and reads the chosen ports from its log.
    fn start(mut command: Command, has_panel: bool) -> Self {
        command
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Some(port) = line.split("port=").nth(1) else {
                    continue;
                };
                let port: u16 = port
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap();
                if line.contains("webhook listener ready") {
                    let _ = tx.send((true, port));
                } else if line.contains("panel ready") {
                    let _ = tx.send((false, port));
                }
            }
        });
        let (mut port, mut ui_port) = (None, None);
        while port.is_none() || (has_panel && ui_port.is_none()) {
            match rx
                .recv_timeout(Duration::from_secs(30))
                .expect("server started")
            {
                (true, p) => port = Some(p),
                (false, p) => ui_port = Some(p),
            }
        }
        Self {
            child,
            port: port.unwrap(),
            ui_port: ui_port.unwrap_or(0),
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kopia_report(blocks: usize) -> String {
    let mut body = String::new();
    for i in 0..blocks {
        body.push_str(&format!(
            "Path: /data/share{i}\n\n  Status:      success\n  Start:       Thu, 02 Jan 2020 03:04:05 +0000\n  \
             Duration:    1m2.5s\n  Size:        45.6 GB (+56 MB)\n  Files:       123456 (+23)\n  Directories: 3300 (+3)\n\n"
        ));
    }
    body.push_str(
        "Generated at Thu, 02 Jan 2020 03:04:05 +0000 by Kopia v0.23.1.\n\nhttps://kopia.io/",
    );
    body
}

/// The report with its start times moved `n` seconds on: every request is a new run (Kopia's
/// reports carry a dedup key; the same bytes twice would measure the duplicate path).
fn nth_report(body: &str, n: u64) -> String {
    const START: &str = "Start:       Thu, 02 Jan 2020 03:04:05 +0000";
    if !body.contains(START) {
        return body.to_owned();
    }
    let at = jiff::Timestamp::from_second(1_577_934_245 + n as i64).unwrap_or_default();
    let start = format!(
        "Start:       {}",
        at.strftime("%a, %d %b %Y %H:%M:%S +0000")
    );
    body.replace(START, &start)
}

static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Load {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Closed loop: `CONNECTIONS` clients, each sending as fast as answers come.
async fn closed_loop(url: &str, body: &str, seconds: u64) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (url, body, stop) = (url.to_owned(), body.to_owned(), Arc::clone(&stop));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let n = SENT.fetch_add(1, Ordering::Relaxed);
                    let response = client
                        .post(&url)
                        .header("Subject", "Successfully created a snapshot")
                        .body(nth_report(&body, n))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 200);
                    let _ = response.bytes().await;
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Load {
        requests_per_second: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    }
}

/// Open loop: one request every `1/rate` s, latency measured from when it was due.
async fn fixed_rate(url: &str, body: &str, rate: u64, seconds: u64) -> Load {
    let client = reqwest::Client::new();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..rate * seconds {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, url) = (client.clone(), url.to_owned());
        let body = nth_report(body, SENT.fetch_add(1, Ordering::Relaxed));
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(&url)
                .header("Subject", "Successfully created a snapshot")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let _ = response.bytes().await;
            due.elapsed()
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await.unwrap());
    }
    all.sort();
    Load {
        requests_per_second: rate as f64,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    }
}

async fn mean_get(url: &str, times: u32) -> Duration {
    let client = reqwest::Client::new();
    let _ = client.get(url).send().await.unwrap().bytes().await;
    let started = Instant::now();
    for _ in 0..times {
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes().await;
    }
    started.elapsed() / times
}

fn new_monitor(name: &str) -> NewMonitor {
    NewMonitor::new(MonitorName::parse(name).unwrap(), WebhookId::generate())
}

/// Writes `count` events into a new monitor directly through the store (fast seeding).
async fn seed(store: &Store, name: &str, count: usize) -> String {
    let monitor = store
        .create_monitor(new_monitor(name), Origin::Ui)
        .await
        .unwrap();
    let mut left = count;
    while left > 0 {
        let batch = left.min(20_000);
        let events = (0..batch)
            .map(|i| {
                BackupEvent::new(SenderKind::Kopia, EventKind::Run, RunStatus::Success)
                    .with_source(&format!("/data/share{}", i % 50))
                    .with_times(Some(Timestamp::now()), None)
                    .with_duration_ms(62_500)
                    .with_size_bytes(45_600_000_000)
            })
            .collect();
        store
            .insert_events(monitor.id, Timestamp::now(), events)
            .await
            .unwrap();
        left -= batch;
    }
    monitor.key.to_string()
}

fn row(what: &str, value: String) {
    println!("| {what:<55} | {value:>28} |");
}

async fn run() {
    let http = reqwest::Client::new();
    let one_snapshot = kopia_report(1);
    println!("| {:<55} | {:>28} |", "figure", "value");
    println!("|{}|{}|", "-".repeat(57), "-".repeat(30));

    // Baseline and the app, same load.
    let noop = Server::noop();
    let noop_load = closed_loop(
        &format!("http://127.0.0.1:{}/api/webhook/x", noop.port),
        &one_snapshot,
        LOAD_SECONDS,
    )
    .await;
    drop(noop);

    let empty = tempfile::tempdir().unwrap();
    let app = Server::app(empty.path());
    tokio::time::sleep(Duration::from_secs(2)).await;
    row(
        "idle RSS",
        format!("{:.1} MiB", app.rss_kib() as f64 / 1024.0),
    );
    let ui = app.ui_port;
    let monitor: serde_json::Value = http
        .post(format!("http://127.0.0.1:{ui}/api/monitors"))
        .json(&serde_json::json!({"name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "http://127.0.0.1:{}/api/webhook/{}",
        app.port,
        monitor["webhook_id"].as_str().unwrap()
    );
    let load = closed_loop(&url, &one_snapshot, LOAD_SECONDS).await;
    row(
        &format!("durable Kopia ingest, {CONNECTIONS} connections"),
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            load.requests_per_second,
            ms(load.p50),
            ms(load.p99)
        ),
    );
    row(
        &format!("actix-web no-op handler, {CONNECTIONS} connections"),
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            noop_load.requests_per_second,
            ms(noop_load.p50),
            ms(noop_load.p99)
        ),
    );
    row(
        "ratio (durable ingest / no-op)",
        format!(
            "{:.2}",
            load.requests_per_second / noop_load.requests_per_second
        ),
    );
    let steady = fixed_rate(&url, &one_snapshot, 500, 6).await;
    row(
        "latency at a fixed 500 req/s",
        format!("p50 {:.2} ms, p99 {:.2} ms", ms(steady.p50), ms(steady.p99)),
    );

    // 100k events (1000 reports of 100 snapshots each), then RSS.
    let hundred = kopia_report(100);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut sent = Vec::new();
    for _ in 0..1000 / CONNECTIONS + 1 {
        sent.clear();
        for _ in 0..CONNECTIONS {
            let request = client
                .post(&url)
                .header("Subject", "Successfully created 100 snapshots")
                .body(nth_report(&hundred, SENT.fetch_add(1, Ordering::Relaxed)));
            sent.push(request.send());
        }
        for r in futures_join(std::mem::take(&mut sent)).await {
            assert_eq!(r.unwrap().status().as_u16(), 200);
        }
    }
    let events_per_second =
        ((1000 / CONNECTIONS + 1) * CONNECTIONS * 100) as f64 / started.elapsed().as_secs_f64();
    row(
        "ingest of 100-snapshot reports",
        format!("{events_per_second:.0} events/s"),
    );
    row(
        "RSS after 100k events",
        format!("{:.1} MiB", app.rss_kib() as f64 / 1024.0),
    );

    // 200 monitors on the dashboard.
    for i in 0..199 {
        http.post(format!("http://127.0.0.1:{ui}/api/monitors"))
            .json(&serde_json::json!({"name": format!("Machine {i}")}))
            .send()
            .await
            .unwrap();
    }
    row(
        "dashboard with 200 monitors",
        format!(
            "{:.2} ms",
            ms(mean_get(&format!("http://127.0.0.1:{ui}/"), 20).await)
        ),
    );
    drop(app);

    // 1M stored events: the history page and the ingest rate.
    let big = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&big.path().join("kopia_webhook.db")).unwrap();
        seed(&store, "Million", 1_000_000).await;
    }
    let app = Server::app(big.path());
    let ui = app.ui_port;
    row(
        "history page at 1M stored events",
        format!(
            "{:.2} ms",
            ms(mean_get(&format!("http://127.0.0.1:{ui}/monitors/million"), 20).await)
        ),
    );
    row(
        "history page 1000 pages deep at 1M events",
        format!(
            "{:.2} ms",
            ms(mean_get(
                &format!("http://127.0.0.1:{ui}/monitors/million?before=950000"),
                20
            )
            .await)
        ),
    );
    drop(app);
    // Two rounds each, alternating, best of each: the load generator shares the machine,
    // and a single round differs from the next by more than the effect measured here.
    let mut empty_best = load.requests_per_second;
    let mut full_best: f64 = 0.0;
    for _ in 0..2 {
        full_best = full_best.max(ingest_rate(big.path(), &one_snapshot).await);
        let fresh = tempfile::tempdir().unwrap();
        empty_best = empty_best.max(ingest_rate(fresh.path(), &one_snapshot).await);
    }
    row(
        "durable ingest at 1M stored events (best of 2)",
        format!(
            "{full_best:.0} req/s ({:.2}x the empty store's {empty_best:.0})",
            full_best / empty_best
        ),
    );

    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_kopia-webhook"))
        .unwrap()
        .len();
    row(
        "binary size (release, stripped)",
        format!("{:.1} MiB", binary as f64 / 1024.0 / 1024.0),
    );
}

/// Durable ingest rate into the first monitor of the store in `dir` (created if none).
async fn ingest_rate(dir: &Path, body: &str) -> f64 {
    let app = Server::app(dir);
    let http = reqwest::Client::new();
    let ui = format!("http://127.0.0.1:{}", app.ui_port);
    let mut monitors: Vec<serde_json::Value> = http
        .get(format!("{ui}/api/monitors"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let monitor = match monitors.pop() {
        Some(monitor) => monitor,
        None => http
            .post(format!("{ui}/api/monitors"))
            .json(&serde_json::json!({"name": "Bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    };
    let url = format!(
        "http://127.0.0.1:{}/api/webhook/{}",
        app.port,
        monitor["webhook_id"].as_str().unwrap()
    );
    closed_loop(&url, body, LOAD_SECONDS)
        .await
        .requests_per_second
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the requests concurrently (a `send()` future does nothing until polled).
async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

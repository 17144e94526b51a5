//! `cargo bench --bench load`: prints the figures the README quotes, from one run on one
//! machine. It starts the release binary as a child process (real SQLite file, durable
//! commits, a fake Home Assistant Core connected), loads it with `wrk` (Debian's package:
//! `-t2 -c32`, a Lua script that makes every Kopia report a new run), and compares it with
//! an actix-web no-op handler loaded the same way: the ratio is the figure that travels
//! between machines. It also counts the add-on's CPU time per report, and the instructions
//! per report under `valgrind --tool=callgrind` (repeatable on a noisy machine).
//!
//! `KW_BENCH_IDLE_SECS` (default 600) sets how long idle CPU is measured; `KW_BENCH_QUICK`
//! stops after the loads on an empty store, `KW_BENCH_HISTORY` runs only the 1M/1k
//! comparison (for trying a change, not for the README), `KW_BENCH_INSTRUCTIONS` only idle RSS
//! and the instructions per request (for comparing two commits), and with `KW_BENCH_RSS` too
//! only idle RSS (a number: seconds to keep the add-on running, to read its smaps).
//! `KW_BENCH_BINARY` runs another build of the add-on than the one cargo built for the bench;
//! `KW_BENCH_CALLGRIND_KEEP=<dir>` keeps callgrind's profiles there (`callgrind_annotate`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kopia_webhook::domain::Origin;
use kopia_webhook::domain::{
    BackupEvent, EventKind, MonitorName, NewMonitor, RunStatus, SenderKind, WebhookId,
};
use kopia_webhook::store::Store;

#[allow(dead_code)]
#[path = "../tests/support/ws_core.rs"]
mod ws_core;

const CONNECTIONS: usize = 32;
/// wrk's load: two threads, 32 connections, as the issue that asked for it measured.
const WRK_ARGS: [&str; 3] = ["-t2", "-c32", "--latency"];
const WRK_SECONDS: u64 = 10;
/// The same Kopia report as `kopia_report(1)`, a new start time (a new run) per request.
const KOPIA_LUA: &str = r#"
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
local counter = 0
request = function()
  counter = counter + 1
  local t = 1577934245 + id * 100000000 + counter
  local body = "Path: /data/share0\n\n  Status:      success\n  Start:       "
    .. os.date("!%a, %d %b %Y %H:%M:%S +0000", t)
    .. "\n  Duration:    1m2.5s\n  Size:        45.6 GB (+56 MB)\n  Files:       123456 (+23)\n  Directories: 3300 (+3)\n\nGenerated at Thu, 02 Jan 2020 03:04:05 +0000 by Kopia v0.23.1.\n\nhttps://kopia.io/"
  return wrk.format("POST", nil, {["Subject"] = "Successfully created a snapshot of /data/share0 on nas"}, body)
end
"#;

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

/// The baseline: actix-web answering `{"ok":true}` after reading the body, nothing else. No
/// router either (the add-on reads its paths by hand too): actix's matches `{id}` segments
/// with a regex, which would slow the baseline down by a third for a 22-character ID.
fn noop_server() {
    actix_web::rt::System::new().block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        println!(
            "webhook listener ready port={}",
            listener.local_addr().unwrap().port()
        );
        actix_web::HttpServer::new(|| {
            actix_web::App::new().default_service(actix_web::web::to(
                |req: actix_web::HttpRequest, _body: actix_web::web::Bytes| async move {
                    if req.path().starts_with("/ping/") {
                        actix_web::HttpResponse::Ok().body("OK")
                    } else {
                        actix_web::HttpResponse::Ok()
                            .json(serde_json::json!({"ok": true, "events": 1}))
                    }
                },
            ))
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
        Self::app_with(data_dir, None, None)
    }

    /// The add-on, pushing to `core` if given, under `wrapper` (valgrind) if given.
    fn app_with(data_dir: &Path, core: Option<&str>, wrapper: Option<&[String]>) -> Self {
        let binary = add_on_binary();
        let mut command = match wrapper {
            Some([program, args @ ..]) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            _ => Command::new(binary),
        };
        if let Some(core) = core {
            command
                .env("KOPIA_WEBHOOK_CORE_URL", core)
                .env("KOPIA_WEBHOOK_CORE_TOKEN", "bench-token");
        }
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
        Self::noop_with(None)
    }

    fn noop_with(wrapper: Option<&[String]>) -> Self {
        let this = std::env::current_exe().unwrap();
        let mut command = match wrapper {
            Some([program, args @ ..]) => {
                let mut command = Command::new(program);
                command.args(args).arg(&this);
                command
            }
            _ => Command::new(&this),
        };
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
                .recv_timeout(Duration::from_secs(120))
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

    /// User and system CPU time the server has used so far.
    fn cpu_time(&self) -> Duration {
        cpu_of_stat(
            &std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default(),
        )
    }

    /// CPU time so far of each group of threads with the same name; the main thread (named
    /// after whichever binary runs, `KW_BENCH_BINARY`) as `main`.
    fn cpu_by_thread(&self) -> std::collections::HashMap<String, Duration> {
        let mut by_name = std::collections::HashMap::new();
        let pid = self.child.id().to_string();
        let tasks = format!("/proc/{pid}/task");
        for task in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
            let path = task.path();
            let name = if task.file_name().to_str() == Some(pid.as_str()) {
                "main".to_owned()
            } else {
                std::fs::read_to_string(path.join("comm")).unwrap_or_default()
            };
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            *by_name
                .entry(name.trim().to_owned())
                .or_insert(Duration::ZERO) += cpu_of_stat(&stat);
        }
        by_name
    }

    /// Asks the server to stop (SIGTERM) and waits for it: callgrind writes its counts then.
    fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// One `… kB` line of `/proc/<pid>/status`.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// RSS and what it is made of, in KiB: pages of files (the binary and its libraries,
    /// shared with the page cache) and the process's own memory.
    fn rss_parts(&self) -> [u64; 3] {
        [
            self.rss_kib(),
            self.status_kib("RssFile:"),
            self.status_kib("RssAnon:"),
        ]
    }

    fn rss_text(&self) -> String {
        rss_text(self.rss_parts())
    }
}

fn rss_text([total, file, anon]: [u64; 3]) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    format!(
        "{:.1} MiB (file {:.1}, anon {:.1})",
        mib(total),
        mib(file),
        mib(anon)
    )
}

/// Drops the add-on binary's pages from the page cache (coreutils' `sync` and `dd
/// iflag=nocache`), so that it starts as after a boot: how much of the file a start maps
/// depends on what the cache holds, and a binary just written by the linker or copied
/// starts with up to 0.9 MiB more than the same binary read from disk.
fn drop_cached_binary() {
    let binary = add_on_binary();
    let _ = Command::new("sync").arg(&binary).status();
    let mut input = std::ffi::OsString::from("if=");
    input.push(&binary);
    let dropped = Command::new("dd")
        .arg(input)
        .args(["iflag=nocache", "count=0", "status=none"])
        .status();
    assert!(dropped.is_ok_and(|s| s.success()), "dd iflag=nocache");
}

/// Idle RSS with a Core connected, two seconds after each of three cold starts: the median
/// and the range. The last start is handed back (to keep running, with `KW_BENCH_RSS`).
async fn idle_rss(core: &str) -> (String, Server, tempfile::TempDir) {
    let mut starts = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        drop_cached_binary();
        let dir = tempfile::tempdir().unwrap();
        let app = Server::app_with(dir.path(), Some(core), None);
        tokio::time::sleep(Duration::from_secs(2)).await;
        starts.push(app.rss_parts());
        last = Some((app, dir));
    }
    starts.sort();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let text = format!(
        "{}, {:.1}–{:.1}",
        rss_text(starts[1]),
        mib(starts[0][0]),
        mib(starts[2][0])
    );
    let (app, dir) = last.expect("three starts");
    (text, app, dir)
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
    p50: Duration,
    p99: Duration,
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

/// Writes `count` events into a new monitor directly through the store (fast seeding);
/// returns its webhook ID.
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
                BackupEvent::new(
                    SenderKind::named("kopia"),
                    EventKind::Run,
                    RunStatus::Success,
                )
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
    monitor.webhook_id.as_str().to_owned()
}

/// Instructions per request: the difference between N and 2N requests under callgrind, so
/// start-up and shutdown cancel out; the no-op counted the same way.
async fn instruction_rows(one_snapshot: &str, core: &str) {
    const N: u64 = 200;
    let report = ("api/webhook", Some(one_snapshot));
    let once = instructions(Counted::NoOp, report, N, &[]).await;
    let twice = instructions(Counted::NoOp, report, 2 * N, &[]).await;
    row(
        "instructions per no-op request (callgrind)",
        format!("{}", twice.saturating_sub(once) / N),
    );
    // With a Core: the event fired and the entities pushed for each report count too.
    for (only, what) in [
        (&[][..], ""),
        (&HANDLER_AND_WRITER[..], ", handler and writer"),
    ] {
        for (kind, request, core) in [
            ("Kopia report", report, None),
            ("ping", ("ping", None), None),
            ("Kopia report", report, Some(core)),
        ] {
            let counted = Counted::Fresh { core };
            let once = instructions(counted, request, N, only).await;
            let twice = instructions(counted, request, 2 * N, only).await;
            let core = if core.is_some() {
                "Core connected"
            } else {
                "Core off"
            };
            row(
                &format!("instructions per {kind} (callgrind, {core}{what})"),
                format!("{}", twice.saturating_sub(once) / N),
            );
        }
    }
}

/// The add-on's binary: the one cargo built for this bench, or `KW_BENCH_BINARY` (another
/// build of it, such as `--profile profiling` or other linker flags, to compare).
fn add_on_binary() -> std::ffi::OsString {
    std::env::var_os("KW_BENCH_BINARY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_kopia-webhook").into())
}

fn row(what: &str, value: String) {
    println!("| {what:<55} | {value:>36} |");
}

async fn run() {
    let http = reqwest::Client::new();
    let one_snapshot = kopia_report(1);
    let work = tempfile::tempdir().unwrap();
    let kopia_lua = work.path().join("kopia.lua");
    std::fs::write(&kopia_lua, KOPIA_LUA).unwrap();
    let core = ws_core::WsCore::start().await;
    println!("| {:<55} | {:>36} |", "figure", "value");
    println!("|{}|{}|", "-".repeat(57), "-".repeat(38));
    // `KW_BENCH_INSTRUCTIONS`: only the counts that do not depend on the machine's load
    // (instructions per request under callgrind) and idle RSS (for comparing commits).
    if std::env::var_os("KW_BENCH_INSTRUCTIONS").is_some() {
        let (rss, app, _data) = idle_rss(&core.url).await;
        row("idle RSS (three cold starts: median, range)", rss);
        if let Some(rss) = std::env::var_os("KW_BENCH_RSS") {
            // A number: keep it running that many seconds, to read its /proc/<pid>/smaps.
            if let Some(secs) = rss.to_str().and_then(|s| s.parse().ok()) {
                println!("pid {}", app.child.id());
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            return;
        }
        drop(app);
        instruction_rows(&one_snapshot, &core.url).await;
        return;
    }

    // The baseline: the same wrk, the same requests, a handler that does nothing.
    // The same URLs as the add-on's: a webhook ID is 22 characters.
    let noop = Server::noop();
    let some_id = WebhookId::generate();
    let noop_post = wrk(
        &format!(
            "http://127.0.0.1:{}/api/webhook/{}",
            noop.port,
            some_id.as_str()
        ),
        Some(&kopia_lua),
    );
    let noop_get = wrk(
        &format!("http://127.0.0.1:{}/ping/{}", noop.port, some_id.as_str()),
        None,
    );
    drop(noop);
    row(
        "wrk's load",
        format!("{} -d{WRK_SECONDS}s", WRK_ARGS.join(" ")),
    );
    row("actix-web no-op, Kopia reports (POST)", noop_post.text());
    row("actix-web no-op, pings (GET)", noop_get.text());

    // `KW_BENCH_HISTORY`: only the loads and counts at 1M and 1k stored events.
    let history_only = std::env::var_os("KW_BENCH_HISTORY").is_some();
    if !history_only
        && !empty_store_loads(
            &http,
            &core,
            &kopia_lua,
            &one_snapshot,
            (&noop_post, &noop_get),
        )
        .await
    {
        return;
    }

    let (big, id) = million_and_its_pages(&core).await;
    // Does a report cost more with a long history? The same monitor (50 sources) with 1k
    // and with 1M stored events, each load on a fresh copy of its database and a freshly
    // started add-on: a load leaves Core events to deliver and a WAL to checkpoint, which
    // would otherwise be charged to the next one.
    let small = thousand_like(&id).await;
    history_loads(
        &core,
        &id,
        (big.path(), small.path()),
        &kopia_lua,
        (&noop_post, &noop_get),
    )
    .await;
    if !history_only {
        instruction_rows(&one_snapshot, &core.url).await;
    }
    // The history question without the machine's noise: the same monitor at 1M and at 1k.
    for (stored, from) in [("1M", big.path()), ("1k", small.path())] {
        const N: u64 = 200;
        let copy = Counted::Copy {
            db: &from.join("kopia_webhook.db"),
            id: &id,
        };
        let report = ("api/webhook", Some(one_snapshot.as_str()));
        let once = instructions(copy, report, N, &[]).await;
        let twice = instructions(copy, report, 2 * N, &[]).await;
        row(
            &format!("instructions per Kopia report, {stored} stored events"),
            format!("{}", twice.saturating_sub(once) / N),
        );
    }
    if history_only {
        return;
    }

    // The bench's build keeps its symbols; the release build strips them.
    let stripped = work.path().join("stripped");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(add_on_binary())
        .status()
        .expect("binutils' strip");
    assert!(status.success());
    let binary = std::fs::metadata(&stripped).unwrap().len();
    row(
        "binary size (release, stripped)",
        format!("{:.1} MiB", binary as f64 / 1024.0 / 1024.0),
    );

    idle_cpu(&http, &core, &one_snapshot).await;
}

/// The add-on with a (fake) Core connected on an empty store: each kind of report under
/// wrk, a fixed rate, bulk ingest, the dashboard. `false`: `KW_BENCH_QUICK` says stop here.
async fn empty_store_loads(
    http: &reqwest::Client,
    core: &ws_core::WsCore,
    kopia_lua: &Path,
    one_snapshot: &str,
    (noop_post, noop_get): (&Wrk, &Wrk),
) -> bool {
    // The add-on with a (fake) Core connected, on an empty store.
    let empty = tempfile::tempdir().unwrap();
    drop_cached_binary();
    let app = Server::app_with(empty.path(), Some(&core.url), None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    row("idle RSS (cold start)", app.rss_text());
    let id = create_monitor(http, app.ui_port, "Bench").await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let loads = [
        (
            "Kopia reports",
            format!("{base}/api/webhook/{id}"),
            Some(kopia_lua),
            &noop_post,
        ),
        ("pings", format!("{base}/ping/{id}"), None, &noop_get),
        (
            "pushes",
            format!("{base}/api/push/{id}?status=up&msg=OK&ping=12"),
            None,
            &noop_get,
        ),
    ];
    for (what, url, script, baseline) in &loads {
        measure(
            &app,
            &format!("{what}, empty store, Core connected"),
            url,
            *script,
            baseline,
            Some(core),
        );
    }
    if std::env::var_os("KW_BENCH_QUICK").is_some() {
        return false;
    }
    let steady = fixed_rate(&format!("{base}/api/webhook/{id}"), one_snapshot, 500, 6).await;
    row(
        "Kopia reports at a fixed 500 req/s",
        format!("p50 {:.2} ms, p99 {:.2} ms", ms(steady.p50), ms(steady.p99)),
    );
    drop(app);

    // Without Home Assistant: what the per-event Home Assistant work costs.
    let quiet = tempfile::tempdir().unwrap();
    let app = Server::app(quiet.path());
    let id = create_monitor(http, app.ui_port, "Bench").await;
    measure(
        &app,
        "Kopia reports, empty store, pushes off",
        &format!("http://127.0.0.1:{}/api/webhook/{id}", app.port),
        Some(kopia_lua),
        noop_post,
        None,
    );

    // 100k events (1000 reports of 100 snapshots each), then RSS.
    let hundred = kopia_report(100);
    let url = format!("http://127.0.0.1:{}/api/webhook/{id}", app.port);
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
    let ui = app.ui_port;
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
    true
}

/// Idle CPU with a Core connected (its websocket and the periodic check included).
async fn idle_cpu(http: &reqwest::Client, core: &ws_core::WsCore, one_snapshot: &str) {
    let seconds: u64 = std::env::var("KW_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let idle = tempfile::tempdir().unwrap();
    let app = Server::app_with(idle.path(), Some(&core.url), None);
    for i in 0..5 {
        let id = create_monitor(http, app.ui_port, &format!("Idle {i}")).await;
        http.post(format!("http://127.0.0.1:{}/api/webhook/{id}", app.port))
            .header("Subject", "Successfully created a snapshot")
            .body(nth_report(
                one_snapshot,
                SENT.fetch_add(1, Ordering::Relaxed),
            ))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = app.cpu_time();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let used = app.cpu_time() - before;
    row(
        &format!("idle CPU over {} min, Core connected", seconds / 60),
        format!(
            "{:.3} % of a core ({:.2} s)",
            used.as_secs_f64() / seconds as f64 * 100.0,
            used.as_secs_f64()
        ),
    );
}

/// 1M stored events in one monitor, and its history pages; the monitor's webhook ID.
async fn million_and_its_pages(core: &ws_core::WsCore) -> (tempfile::TempDir, String) {
    let big = tempfile::tempdir().unwrap();
    let id = {
        let store = Store::open(&big.path().join("kopia_webhook.db")).unwrap();
        seed(&store, "Million", 1_000_000).await
    };
    // The seeding left ~200 MB in the WAL: copy it into the database now, or the add-on's
    // checkpoint thread does it during the measurement below (a one-off, not per report).
    checkpoint(big.path());
    let app = Server::app_with(big.path(), Some(&core.url), None);
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
    (big, id)
}

/// The same monitor with 1k stored events, under the same webhook ID `id`.
async fn thousand_like(id: &str) -> tempfile::TempDir {
    let small = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&small.path().join("kopia_webhook.db")).unwrap();
        let small_id = seed(&store, "Million", 1_000).await;
        drop(store);
        // The same webhook ID as the big one, so that one URL fits both.
        rusqlite::Connection::open(small.path().join("kopia_webhook.db"))
            .unwrap()
            .execute(
                "UPDATE monitors SET webhook_id = ?1 WHERE webhook_id = ?2",
                [id, &small_id],
            )
            .unwrap();
    }
    checkpoint(small.path());
    small
}

/// Every kind of report with a Core connected, at 1M and at 1k stored events.
async fn history_loads(
    core: &ws_core::WsCore,
    id: &str,
    (big, small): (&Path, &Path),
    kopia_lua: &Path,
    (noop_post, noop_get): (&Wrk, &Wrk),
) {
    let loads = [
        (
            "Kopia reports",
            "api/webhook",
            "",
            Some(kopia_lua),
            noop_post,
        ),
        ("pings", "ping", "", None, noop_get),
        (
            "pushes",
            "api/push",
            "?status=up&msg=OK&ping=12",
            None,
            noop_get,
        ),
    ];
    for (what, path, query, script, baseline) in loads {
        for (stored, from) in [("1M", big), ("1k", small)] {
            let copy = tempfile::tempdir().unwrap();
            std::fs::copy(
                from.join("kopia_webhook.db"),
                copy.path().join("kopia_webhook.db"),
            )
            .unwrap();
            let app = Server::app_with(copy.path(), Some(&core.url), None);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let url = format!("http://127.0.0.1:{}/{path}/{id}{query}", app.port);
            measure(
                &app,
                &format!("{what}, {stored} stored events, Core connected"),
                &url,
                script,
                baseline,
                Some(core),
            );
        }
    }
}

async fn create_monitor(http: &reqwest::Client, ui_port: u16, name: &str) -> String {
    let monitor: serde_json::Value = http
        .post(format!("http://127.0.0.1:{ui_port}/api/monitors"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    monitor["webhook_id"].as_str().unwrap().to_owned()
}

/// One wrk run against the add-on: rate, latency, the ratio to the no-op's rate, and the
/// add-on's CPU time per request (user + system of its process ÷ requests). With a Core, the
/// CPU is counted until Core has received every request's event: firing events lags behind
/// a flood, and what is left would otherwise be charged to the next load.
fn measure(
    app: &Server,
    what: &str,
    url: &str,
    script: Option<&Path>,
    baseline: &Wrk,
    core: Option<&ws_core::WsCore>,
) {
    let before = app.cpu_time();
    let threads_before = app.cpu_by_thread();
    let fired_before = core.map_or(0, ws_core::WsCore::fired);
    let load = wrk(url, script);
    let ended = Instant::now();
    let mut drained = String::new();
    if let Some(core) = core {
        while core.fired() - fired_before < load.requests && ended.elapsed().as_secs() < 600 {
            std::thread::sleep(Duration::from_millis(20));
        }
        drained = format!(
            " · Core had every event {:.1} s after the load",
            ended.elapsed().as_secs_f64()
        );
    }
    let cpu = app.cpu_time() - before;
    let threads = app.cpu_by_thread();
    let per_request = |d: Duration| d.as_secs_f64() * 1e6 / load.requests.max(1) as f64;
    row(what, load.text());
    row(
        "  ratio to the no-op · CPU per request",
        format!(
            "{:.2} · {:.1} µs{drained}",
            load.rate / baseline.rate,
            per_request(cpu)
        ),
    );
    let mut named = Duration::ZERO;
    let mut parts = Vec::new();
    for (group, label) in THREAD_GROUPS {
        let used = threads.get(*group).copied().unwrap_or_default()
            - threads_before.get(*group).copied().unwrap_or_default();
        named += used;
        parts.push(format!("{label} {:.1}", per_request(used)));
    }
    parts.push(format!(
        "other {:.1}",
        per_request(cpu.saturating_sub(named))
    ));
    row("  add-on CPU µs per request, by thread", parts.join(" · "));
    row(
        "  wrk's own CPU per request (add-on · no-op)",
        format!(
            "{:.1} µs · {:.1} µs",
            load.generator_us(),
            baseline.generator_us()
        ),
    );
}

/// The add-on's threads by name (Linux's 15-character `comm`), as the bench reports them.
const THREAD_GROUPS: &[(&str, &str)] = &[
    ("actix-server wo", "HTTP"),
    ("sqlite-writer", "writer"),
    // The async side runs on the main thread.
    ("main", "async (Core, evaluator)"),
    ("tokio-rt-worker", "reads"),
    ("sqlite-checkpoi", "checkpoints"),
];

struct Wrk {
    /// CPU time wrk itself used (user + system).
    generator_cpu: Duration,
    rate: f64,
    requests: u64,
    p50: Duration,
    p99: Duration,
}

impl Wrk {
    /// wrk's own CPU time per request: the share of the machine the load itself takes.
    fn generator_us(&self) -> f64 {
        self.generator_cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }

    fn text(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            self.rate,
            ms(self.p50),
            ms(self.p99)
        )
    }
}

/// Runs Debian's `wrk` and reads its summary; any non-2xx answer fails the bench.
fn wrk(url: &str, script: Option<&Path>) -> Wrk {
    // Through bash, whose `times` then prints the CPU time wrk used (its children's line).
    let mut command = Command::new("bash");
    command
        .args(["-c", r#"wrk "$@" && times"#, "wrk"])
        .args(WRK_ARGS)
        .arg(format!("-d{WRK_SECONDS}s"));
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let generator_cpu = text
        .lines()
        .last()
        .map(|children| {
            children
                .split_whitespace()
                .map(|t| {
                    let (minutes, seconds) = t
                        .trim_end_matches('s')
                        .split_once('m')
                        .unwrap_or(("0", "0"));
                    minutes.parse::<f64>().unwrap_or(0.0) * 60.0
                        + seconds.parse::<f64>().unwrap_or(0.0)
                })
                .sum::<f64>()
        })
        .unwrap_or(0.0);
    let errors = String::from_utf8_lossy(&output.stderr);
    // A Lua error makes wrk send plain GETs instead: never measure those.
    assert!(errors.trim().is_empty(), "wrk: {errors}");
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw failed answers from {url}:\n{text}"
    );
    let after = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let duration = |value: &str| -> Duration {
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(value.len()),
        );
        let number: f64 = number.parse().unwrap_or(0.0);
        Duration::from_secs_f64(match unit {
            "us" => number / 1e6,
            "ms" => number / 1e3,
            "s" => number,
            "m" => number * 60.0,
            _ => 0.0,
        })
    };
    Wrk {
        generator_cpu: Duration::from_secs_f64(generator_cpu),
        rate: after("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        requests: text
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0),
        p50: after("50%").map(duration).unwrap_or_default(),
        p99: after("99%").map(duration).unwrap_or_default(),
    }
}

/// What [`instructions`] counts.
#[derive(Clone, Copy)]
enum Counted<'a> {
    NoOp,
    /// The add-on with one new monitor, connected to this Core if given.
    Fresh {
        core: Option<&'a str>,
    },
    /// The add-on on a copy of this database, reports to this webhook ID.
    Copy {
        db: &'a Path,
        id: &'a str,
    },
}

/// The functions whose instructions (with all they call) make "the handler and the writer":
/// the webhook port's delivery of a request, from its route to its answer, and the SQLite
/// writer thread. Not counted: HTTP parsing, the runtime's scheduling, the evaluator, Core's
/// events and pushes, the checkpoint thread and timers, whose share under callgrind changes
/// from run to run.
const HANDLER_AND_WRITER: [&str; 2] = [
    "kopia_webhook::web::webhook::deliver::*",
    "kopia_webhook::store::run_writer*",
];

/// The instructions a server executes to start, take `count` requests to `/<path>/<id>`
/// one at a time (a POST of `body`, or a GET), and stop, under callgrind; with `only`, the
/// instructions inside those functions (callgrind's `--toggle-collect` patterns).
async fn instructions(
    counted: Counted<'_>,
    (path, body): (&str, Option<&str>),
    count: u64,
    only: &[&str],
) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("callgrind.out");
    let mut wrapper = vec![
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    if !only.is_empty() {
        wrapper.push("--collect-atstart=no".to_owned());
        wrapper.extend(only.iter().map(|f| format!("--toggle-collect={f}")));
    }
    let http = reqwest::Client::new();
    let (app, id) = match counted {
        Counted::Fresh { core } => {
            let app = Server::app_with(&dir.path().join("data"), core, Some(&wrapper));
            let id = create_monitor(&http, app.ui_port, "Counted").await;
            (app, id)
        }
        Counted::Copy { db, id } => {
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data).unwrap();
            std::fs::copy(db, data.join("kopia_webhook.db")).unwrap();
            (Server::app_with(&data, None, Some(&wrapper)), id.to_owned())
        }
        Counted::NoOp => (
            Server::noop_with(Some(&wrapper)),
            WebhookId::generate().as_str().to_owned(),
        ),
    };
    let url = format!("http://127.0.0.1:{}/{path}/{id}", app.port);
    for n in 0..count {
        let response = match body {
            Some(body) => {
                http.post(&url)
                    .header("Subject", "Successfully created a snapshot")
                    .body(nth_report(body, 1_000_000 + n))
                    .send()
                    .await
            }
            None => http.get(&url).send().await,
        }
        .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    app.terminate();
    // `KW_BENCH_CALLGRIND_KEEP=<dir>`: keep each profile there, for callgrind_annotate.
    if let Some(keep) = std::env::var_os("KW_BENCH_CALLGRIND_KEEP") {
        let name = format!(
            "{}-{count}-{}{}.out",
            path.replace('/', "_"),
            if only.is_empty() { "all" } else { "only" },
            match counted {
                Counted::Fresh { core: Some(_) } => "-core",
                _ => "",
            }
        );
        std::fs::copy(&out, Path::new(&keep).join(name)).expect("a folder to keep profiles in");
    }
    let counts = std::fs::read_to_string(&out).expect("callgrind wrote its counts");
    let total = counts
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("callgrind's summary line");
    assert!(
        total > 0,
        "no instructions inside {only:?}: was a function renamed or inlined (nm -C)?"
    );
    total
}

/// Copies the WAL of the database in `dir` into it and empties the WAL.
fn checkpoint(dir: &Path) {
    rusqlite::Connection::open(dir.join("kopia_webhook.db"))
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

/// utime + stime of a `/proc/…/stat` line (a process's or a thread's).
fn cpu_of_stat(stat: &str) -> Duration {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks.
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
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

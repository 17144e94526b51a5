//! Real notification clients from PyPI against the add-on: the `apprise` command (json://,
//! form://, xml://, ntfy://, gotify://) and borgmatic (with Debian's borg) through its
//! `apprise` and `ntfy` hooks, for a successful and a failing backup. `tools/test.sh`
//! installs them (pip: apprise, borgmatic; apt: borgbackup).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::helpers::*;

/// Runs a client to completion off the async runtime; its output is printed on failure.
async fn run(program: &str, args: Vec<String>, env: Vec<(String, String)>) -> Output {
    let program = program.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .envs(env)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {program} ({e}): tools/test.sh installs it (pip install apprise borgmatic; apt-get install borgbackup)")
            })
    })
    .await
    .unwrap()
}

fn said(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `json://127.0.0.1:<port>` of a `http://127.0.0.1:<port>` base.
fn host_port(base: &str) -> &str {
    base.trim_start_matches("http://")
}

async fn apprise(title: &str, body: &str, kind: &str, url: &str) {
    let output = run(
        "apprise",
        vec![
            "-vv".into(),
            "-t".into(),
            title.into(),
            "-b".into(),
            body.into(),
            "-n".into(),
            kind.into(),
            url.into(),
        ],
        Vec::new(),
    )
    .await;
    assert!(output.status.success(), "apprise {url}: {}", said(&output));
}

#[tokio::test]
async fn the_apprise_command_reports_success_warning_and_failure_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Apprise"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let host = host_port(&app.webhook_base);
    let newest = || async { app.events("apprise", "").await.remove(0) };

    apprise(
        "Backup",
        "all done",
        "success",
        &format!("json://{host}/api/webhook/{id}"),
    )
    .await;
    let e = newest().await;
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("apprise"), Some("success"))
    );

    apprise(
        "Backup",
        "3 files skipped",
        "warning",
        &format!("form://{host}/api/webhook/{id}"),
    )
    .await;
    let e = newest().await;
    assert_eq!(e["status"], "warning");
    assert_eq!(e["error"], "3 files skipped");

    apprise(
        "Backup <nas>",
        "disk full & more",
        "failure",
        &format!("xml://{host}/api/webhook/{id}"),
    )
    .await;
    let e = newest().await;
    assert_eq!(e["status"], "failed");
    assert_eq!(e["error"], "disk full & more");

    // With an attachment (a backup log), form:// sends a multipart form.
    let log = dir.path().join("backup.log");
    std::fs::write(&log, "rsync error: some files could not be transferred\n").unwrap();
    let output = run(
        "apprise",
        vec![
            "-vv".into(),
            "-t".into(),
            "Backup".into(),
            "-b".into(),
            "12 files not transferred".into(),
            "-n".into(),
            "warning".into(),
            "-a".into(),
            log.display().to_string(),
            format!("form://{host}/api/webhook/{id}"),
        ],
        Vec::new(),
    )
    .await;
    assert!(
        output.status.success(),
        "apprise with an attachment: {}",
        said(&output)
    );
    let e = newest().await;
    assert_eq!(
        (
            e["sender"].as_str(),
            e["status"].as_str(),
            e["error"].as_str()
        ),
        (
            Some("apprise"),
            Some("warning"),
            Some("12 files not transferred")
        )
    );

    // ntfy:// posts JSON to the root; gotify:// to /message with the token in a header.
    apprise(
        "Backup failed",
        "exit 2",
        "info",
        &format!("ntfy://{host}/{id}"),
    )
    .await;
    let e = newest().await;
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("ntfy"), Some("failed"))
    );
    apprise(
        "Backup finished",
        "ok",
        "info",
        &format!("gotify://{host}/{id}"),
    )
    .await;
    let e = newest().await;
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("gotify"), Some("success"))
    );

    let status: Value = app.get_json("/api/monitors/apprise").await;
    assert_eq!(status["status"], "success");
    app.stop().await;
}

/// A borgmatic configuration for `source` and `repository`, reporting through both hooks.
fn borgmatic_config(
    dir: &Path,
    repository: &Path,
    apprise_url: &str,
    ntfy: (&str, &str),
) -> String {
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("photo.jpg"), vec![7u8; 4096]).unwrap();
    format!(
        r#"source_directories:
    - {source}
repositories:
    - path: {repository}
      label: local
apprise:
    services:
        - url: {apprise_url}
          label: home-assistant
    states: [start, finish, fail]
    send_logs: true
ntfy:
    server: {server}
    topic: {topic}
    states: [start, finish, fail]
"#,
        source = source.display(),
        repository = repository.display(),
        server = ntfy.0,
        topic = ntfy.1,
    )
}

async fn borgmatic(dir: &Path, config: &str) -> Output {
    borgmatic_action(dir, config, &["create"]).await
}

/// borgmatic with its `action` arguments (`create`; `check --force`).
async fn borgmatic_action(dir: &Path, config: &str, action: &[&str]) -> Output {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let env = vec![
        ("HOME".to_owned(), home.display().to_string()),
        ("BORG_BASE_DIR".to_owned(), home.display().to_string()),
        (
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK".to_owned(),
            "yes".to_owned(),
        ),
        (
            "BORG_RELOCATED_REPO_ACCESS_IS_OK".to_owned(),
            "yes".to_owned(),
        ),
    ];
    run(
        "borgmatic",
        vec!["--config".into(), path.display().to_string()]
            .into_iter()
            .chain(action.iter().map(|a| a.to_string()))
            .chain(["--verbosity".into(), "1".into()])
            .collect(),
        env,
    )
    .await
}

#[tokio::test]
async fn borgmatic_reports_through_its_apprise_and_ntfy_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path().join("data").as_path(), None).await;
    let by_apprise = app.create_monitor(json!({"name": "Borg Apprise"})).await;
    let by_ntfy = app.create_monitor(json!({"name": "Borg ntfy"})).await;
    let apprise_url = format!(
        "json://{}/api/webhook/{}",
        host_port(&app.webhook_base),
        by_apprise["webhook_id"].as_str().unwrap()
    );
    let ntfy_server = format!("{}/ntfy", app.webhook_base);
    let topic = by_ntfy["webhook_id"].as_str().unwrap();

    let repository = dir.path().join("repo");
    let init = run(
        "borg",
        vec![
            "init".into(),
            "-e".into(),
            "none".into(),
            repository.display().to_string(),
        ],
        vec![(
            "BORG_BASE_DIR".into(),
            dir.path().join("home").display().to_string(),
        )],
    )
    .await;
    assert!(init.status.success(), "borg init: {}", said(&init));

    let good = borgmatic_config(dir.path(), &repository, &apprise_url, (&ntfy_server, topic));
    let output = borgmatic(dir.path(), &good).await;
    assert!(
        output.status.success(),
        "borgmatic create: {}",
        said(&output)
    );
    for key in ["borg_apprise", "borg_ntfy"] {
        let events = app.events(key, "").await;
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e["kind"].as_str().unwrap(), e["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [("run", "success"), ("start", "unknown")],
            "{key}: {events:#?}"
        );
        let monitor: Value = app.get_json(&format!("/api/monitors/{key}")).await;
        assert_eq!(monitor["status"], "success", "{key}");
    }

    // `borgmatic check`: a check of the backups, its own clock ("last verified").
    let output = borgmatic_action(dir.path(), &good, &["check", "--force"]).await;
    assert!(
        output.status.success(),
        "borgmatic check: {}",
        said(&output)
    );
    let checked = app.events("borg_apprise", "").await.remove(0);
    assert_eq!(
        (checked["kind"].as_str(), checked["status"].as_str()),
        (Some("check"), Some("success")),
        "{checked:#}"
    );
    let monitor: Value = app.get_json("/api/monitors/borg_apprise").await;
    assert!(monitor["last_verified"].is_string(), "{monitor}");
    assert_eq!(
        monitor["status"], "success",
        "the check's start ended: {monitor}"
    );

    let missing = dir.path().join("missing-repo");
    let bad = borgmatic_config(dir.path(), &missing, &apprise_url, (&ntfy_server, topic));
    let output = borgmatic(dir.path(), &bad).await;
    assert!(
        !output.status.success(),
        "the backup fails: {}",
        said(&output)
    );
    let failed = app.events("borg_apprise", "").await.remove(0);
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("missing-repo") && error.contains("does not exist"),
        "the failing line of the log: {error}"
    );
    let monitor: Value = app.get_json("/api/monitors/borg_ntfy").await;
    assert_eq!(monitor["status"], "failed");
    println!(
        "borgmatic's apprise failure: {error}\nntfy failure: {}",
        monitor["error"]
    );
    app.stop().await;
}

/// Gotify's own documented example, `curl -F title=… -F message=… -F priority=…` to
/// `/message?token=…`: a multipart form (the token being the monitor's webhook ID).
#[tokio::test]
async fn gotifys_curl_example_is_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Script"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let url = format!("{}/message?token={id}", app.webhook_base);
    let output = run(
        "curl",
        vec![
            "-sS".into(),
            "--fail-with-body".into(),
            url,
            "-F".into(),
            "title=Nightly backup failed".into(),
            "-F".into(),
            "message=restic: repository is locked".into(),
            "-F".into(),
            "priority=8".into(),
        ],
        vec![],
    )
    .await;
    assert!(output.status.success(), "{}", said(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["title"], "Nightly backup failed");
    assert_eq!(answer["priority"], 8);
    let e = app.events("script", "").await.remove(0);
    assert_eq!(
        (e["sender"].as_str(), e["status"].as_str()),
        (Some("gotify"), Some("failed"))
    );
    assert_eq!(e["error"], "restic: repository is locked");
    app.stop().await;
}

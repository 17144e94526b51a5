//! The panel in a real browser, behind a proxy that behaves like Home Assistant's ingress:
//! requests arrive under `/api/hassio_ingress/<token>/` and are forwarded with the prefix
//! stripped and `X-Ingress-Path` set. Every request the browser makes must stay inside the
//! prefix. Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
//! Screenshots of every page go to `target/screenshots/`.

mod support {
    pub mod chromium;
    pub mod ingress_proxy;
    pub mod kopia;
}

use std::collections::HashMap;
use std::time::Duration;

use fantoccini::{Client, Locator};
use kopia_webhook::app::Application;
use kopia_webhook::config::Settings;
use serde_json::json;
use support::chromium::{screenshot, start_browser};
use support::ingress_proxy::IngressProxy;
use support::kopia::send_kopia;

const TOKEN: &str = "0b1c2d3e4f5a6b7c-8d9e";

/// Clicks, then waits for the page the click leads to (a click returns before the navigation
/// it starts has finished).
async fn click_then_wait(client: &Client, target: Locator<'_>, on_next_page: Locator<'_>) {
    client.find(target).await.unwrap().click().await.unwrap();
    client.wait().for_element(on_next_page).await.unwrap();
}

/// Clicks `target` (a form's button) and answers the notice of the page it leads to.
async fn notice_after(client: &Client, target: Locator<'_>) -> String {
    click_then_wait(client, target, Locator::Css(".notice")).await;
    text(client, ".notice").await
}

async fn current_path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// What the user did to get somewhere.
#[derive(Debug, Default)]
struct Actions {
    clicks: u32,
    typed: u32,
    pastes: u32,
}

impl Actions {
    fn click(&mut self) {
        self.clicks += 1;
    }
    fn type_field(&mut self) {
        self.typed += 1;
    }
    fn paste(&mut self) {
        self.pastes += 1;
    }
}

/// Waits (at most 10 s) until the element's text is `want`, without reloading the page.
async fn wait_for_text(client: &Client, css: &str, want: &str) {
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.text().await.is_ok_and(|t| t == want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{css} never showed {want:?}; it shows {:?}",
        text(client, css).await
    );
}

#[tokio::test]
async fn from_an_empty_panel_to_a_green_monitor_and_every_kopia_snapshot_inside_ingress() {
    let dir = tempfile::tempdir().unwrap();
    let (ui, stopper, server) = serve(settings_in(dir.path(), &[])).await;
    let proxy = IngressProxy::start(&ui, TOKEN).await;
    let panel = format!("{}/api/hassio_ingress/{TOKEN}/", proxy.base);
    let (_driver, browser) = start_browser().await;

    // What a person does, counted: clicks, typed fields, pastes into a backup tool.
    let mut actions = Actions::default();

    an_empty_dashboard_says_what_to_do_first(&browser, &panel).await;

    // Click: New monitor. Type a name; click: create it.
    actions.click();
    click_then_wait(
        &browser,
        Locator::LinkText("New monitor"),
        Locator::Id("name"),
    )
    .await;
    screenshot(&browser, "2-new-monitor").await;
    actions.type_field();
    browser
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("Server One")
        .await
        .unwrap();
    actions.click();
    click_then_wait(
        &browser,
        Locator::Css("button[type=submit]"),
        Locator::Id("webhook-url"),
    )
    .await;
    assert_eq!(
        current_path(&browser).await,
        format!("/api/hassio_ingress/{TOKEN}/monitors/server_one")
    );
    assert!(
        text(&browser, ".waiting")
            .await
            .contains("Waiting for the first report"),
        "the new monitor's page says what it waits for"
    );
    screenshot(&browser, "3-monitor-new").await;

    // Click: copy the URL. The one paste: into Kopia, whose "send test notification"
    // arrives exactly as Kopia sends it.
    actions.click();
    browser
        .find(Locator::Css("button[data-copy='webhook-url']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let webhook_url = text(&browser, "#webhook-url").await;
    let kopia_command = text(&browser, "#guide-kopia").await;
    assert!(kopia_command.contains(&format!("--endpoint={webhook_url}")));
    actions.paste();
    let http = reqwest::Client::new();
    let kopia = |fixture| send_kopia(&http, &webhook_url, fixture);
    assert_eq!(kopia("test-notification.txt").await.status().as_u16(), 200);
    // No reload: the page turns green by itself.
    wait_for_text(&browser, "h1 .pill", "success").await;
    assert!(
        browser.find(Locator::Css(".waiting")).await.is_err(),
        "no longer waiting"
    );
    screenshot(&browser, "4-monitor-green").await;
    assert!(
        actions.clicks <= 3 && actions.typed <= 1 && actions.pastes <= 1,
        "the first green took {actions:?}"
    );
    println!("first green after {actions:?}");

    // A real report: every snapshot shows in the history, again without a reload.
    assert_eq!(
        kopia("snapshot-report.txt.default.expected")
            .await
            .status()
            .as_u16(),
        200
    );
    wait_for_text(&browser, "h1 .pill", "failed").await;
    let rows = browser
        .find_all(Locator::Css("table.history tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 5, "four snapshots and the test notification");
    assert!(
        text(&browser, "table.history")
            .await
            .contains("/some/other/path")
    );
    screenshot(&browser, "5-monitor-history").await;

    other_pages_and_a_test_event(&browser, &panel).await;

    let escaped = proxy.escaped();
    assert!(
        escaped.is_empty(),
        "requests left the ingress prefix: {escaped:?}"
    );
    assert!(proxy.forwarded() >= 12);

    browser.close().await.unwrap();
    stopper.stop().await;
    let _ = server.await;
}

/// A monitor whose history shows a rhythm offers it as its schedule: one click through
/// ingress, and the page says so. A shrunk run's reason is on the page.
#[tokio::test]
async fn a_learned_schedule_is_one_click_and_a_shrink_is_explained() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("KOPIA_WEBHOOK_DATA_DIR", dir.path().display().to_string()),
        ("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_TIMEZONE", "UTC".into()),
    ]);
    let settings = || Settings::load(|k| env.get(k).cloned()).unwrap();
    // Eight nights of a job that starts at 02:30 and reports 40 minutes later; the last
    // one backed up a tenth of the usual.
    {
        let app = Application::build(settings()).await.unwrap();
        let ui = format!("http://127.0.0.1:{}", app.ui_port());
        let stopper = app.stopper();
        let server = tokio::spawn(app.run_until_stopped());
        let created = reqwest::Client::new()
            .post(format!("{ui}/api/monitors"))
            .json(&json!({"name": "Nightly"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        stopper.stop().await;
        let _ = server.await;
    }
    seed_eight_nights(&settings().database_path()).await;

    let app = Application::build(settings()).await.unwrap();
    let ui = format!("http://127.0.0.1:{}", app.ui_port());
    let stopper = app.stopper();
    let server = tokio::spawn(app.run_until_stopped());
    let proxy = IngressProxy::start(&ui, TOKEN).await;
    let panel = format!("{}/api/hassio_ingress/{TOKEN}/", proxy.base);
    let (_driver, browser) = start_browser().await;

    browser
        .goto(&format!("{panel}monitors/nightly"))
        .await
        .unwrap();
    let suggestion = text(&browser, "section.suggestion").await;
    assert!(
        suggestion.contains("daily around 02:30, grace 1h"),
        "{suggestion}"
    );
    assert!(
        text(&browser, "p.error")
            .await
            .contains("size dropped 90 %: 1.50 GB → 150.0 MB"),
        "the shrink is explained on the page"
    );
    screenshot(&browser, "11-suggested-schedule").await;
    let notice = notice_after(&browser, Locator::Css("section.suggestion button")).await;
    assert!(notice.contains("The schedule is set"), "{notice}");
    assert!(
        text(&browser, "p.muted")
            .await
            .contains("cron 30 2 * * * (UTC), grace 1h"),
        "{}",
        text(&browser, "p.muted").await
    );
    assert!(
        browser
            .find(Locator::Css("section.suggestion"))
            .await
            .is_err()
    );
    screenshot(&browser, "12-scheduled").await;

    // Paused for a day from its page: `paused`, and it says until when; resumed in one click.
    let notice = notice_after(&browser, Locator::Css("form.inline-pause button")).await;
    assert!(notice.contains("Paused:"), "{notice}");
    assert_eq!(text(&browser, "h1 .pill").await, "paused");
    assert!(
        text(&browser, "p.notice + p.notice, p.notice ~ p.notice")
            .await
            .starts_with("Paused until"),
    );
    screenshot(&browser, "17-paused").await;
    let notice = notice_after(&browser, Locator::XPath("//button[text()='Resume']")).await;
    assert!(notice.contains("Resumed"), "{notice}");
    assert_ne!(text(&browser, "h1 .pill").await, "paused");
    browser.goto(&panel).await.unwrap();
    screenshot(&browser, "13-dashboard-notify").await;
    assert!(
        text(&browser, "#notify-title")
            .await
            .contains("Get told about problems")
    );

    let escaped = proxy.escaped();
    assert!(
        escaped.is_empty(),
        "requests left the ingress prefix: {escaped:?}"
    );
    browser.close().await.unwrap();
    stopper.stop().await;
    let _ = server.await;
}

/// Eight nights of a job that starts at 02:30 and reports 40 minutes later, into monitor 1;
/// the last one backed up a tenth of the usual.
async fn seed_eight_nights(database: &std::path::Path) {
    use jiff::{SignedDuration, Timestamp};
    use kopia_webhook::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

    let store = kopia_webhook::store::Store::open(database).unwrap();
    let last_night = {
        let now = Timestamp::now();
        let today = now
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .at(3, 10, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp();
        if today > now {
            today - SignedDuration::from_hours(24)
        } else {
            today
        }
    };
    for night in (0..8).rev() {
        let at = last_night - SignedDuration::from_hours(24 * night);
        let size = if night == 0 {
            150_000_000
        } else {
            1_500_000_000
        };
        let run = BackupEvent::new(
            SenderKind::named("kopia"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_source("/srv/photos")
        .with_times(Some(at - SignedDuration::from_mins(40)), Some(at))
        .with_size_bytes(size)
        .with_files(42_000);
        store.insert_events(1, at, vec![run]).await.unwrap();
    }
    drop(store);
}

/// The other pages, through the same prefix; a test event sent from the page, its form post
/// and its redirect inside the prefix.
async fn other_pages_and_a_test_event(browser: &Client, panel: &str) {
    for (name, path) in [
        ("6-dashboard", "".to_owned()),
        ("7-edit", "monitors/server_one/edit".to_owned()),
        ("8-rotate", "monitors/server_one/rotate".to_owned()),
        ("9-delete", "monitors/server_one/delete".to_owned()),
        ("10-not-found", "monitors/nope".to_owned()),
    ] {
        browser.goto(&format!("{panel}{path}")).await.unwrap();
        screenshot(browser, name).await;
    }
    // Send a test event from the page: a form post and its redirect stay inside the prefix.
    browser
        .goto(&format!("{panel}monitors/server_one"))
        .await
        .unwrap();
    let notice = notice_after(browser, Locator::Css("form[action$='/test'] button")).await;
    assert_eq!(
        current_path(browser).await,
        format!("/api/hassio_ingress/{TOKEN}/monitors/server_one")
    );
    assert!(notice.contains("test event"), "{notice}");
}

/// The add-on's settings for a test run in `dir`, on free ports, with `extra`.
fn settings_in(dir: &std::path::Path, extra: &[(&'static str, &str)]) -> Settings {
    let mut env: HashMap<&str, String> = HashMap::from([
        ("KOPIA_WEBHOOK_DATA_DIR", dir.display().to_string()),
        ("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0".into()),
        ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0".into()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Settings::load(|k| env.get(k).cloned()).unwrap()
}

/// The app running in this process: the panel's address, how to stop it, its task.
async fn serve(
    settings: Settings,
) -> (
    String,
    kopia_webhook::app::Stopper,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (ui, _, stopper, task) = serve_both(settings).await;
    (ui, stopper, task)
}

/// [`serve`], with the webhook port's address too.
async fn serve_both(
    settings: Settings,
) -> (
    String,
    String,
    kopia_webhook::app::Stopper,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = Application::build(settings).await.unwrap();
    let ui = format!("http://127.0.0.1:{}", app.ui_port());
    let webhooks = format!("http://127.0.0.1:{}", app.webhook_port());
    let stopper = app.stopper();
    (ui, webhooks, stopper, tokio::spawn(app.run_until_stopped()))
}

/// With the Home Assistant integration connected, the dashboard says so and each monitor
/// shows its URL at Home Assistant's own address beside the LAN one, ready to copy.
#[tokio::test]
async fn the_connected_integration_shows_urls_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (ui, webhooks, stopper, server) = serve_both(settings_in(dir.path(), &[])).await;
    let proxy = IngressProxy::start(&ui, TOKEN).await;
    let panel = format!("{}/api/hassio_ingress/{TOKEN}/", proxy.base);
    let http = reqwest::Client::new();
    let monitor: serde_json::Value = http
        .post(format!("{ui}/api/monitors"))
        .json(&serde_json::json!({"name": "SimpleBackups"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status: serde_json::Value = http
        .get(format!("{ui}/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let told = http
        .put(format!("{webhooks}/api/integration/home-assistant"))
        .header(
            "x-kopia-webhook-key",
            status["integration_key"].as_str().unwrap(),
        )
        .json(&serde_json::json!({"external": "https://home.example.org", "cloud": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(told.status().as_u16(), 204);
    let (_driver, browser) = start_browser().await;

    browser.goto(&panel).await.unwrap();
    assert!(
        text(&browser, "#integration-title + p")
            .await
            .contains("connected")
    );
    screenshot(&browser, "14-dashboard-integration").await;
    browser
        .goto(&format!("{panel}monitors/simplebackups"))
        .await
        .unwrap();
    let anywhere = text(&browser, "#anywhere-url").await;
    assert_eq!(
        anywhere,
        format!(
            "https://home.example.org/api/webhook/{}",
            monitor["webhook_id"].as_str().unwrap()
        )
    );
    assert!(
        browser
            .find(Locator::Css("button[data-copy='anywhere-url']"))
            .await
            .is_ok()
    );
    screenshot(&browser, "15-monitor-from-anywhere").await;

    browser.close().await.unwrap();
    stopper.stop().await;
    let _ = server.await;
}

/// Open the panel: an empty dashboard says what to do first.
async fn an_empty_dashboard_says_what_to_do_first(browser: &Client, panel: &str) {
    browser.goto(panel).await.unwrap();
    screenshot(browser, "1-dashboard-empty").await;
    assert!(
        text(browser, "section.empty")
            .await
            .contains("create a monitor by hand")
    );
    assert!(
        text(browser, "#slug-webhook-url")
            .await
            .contains("/api/webhook/")
    );
}

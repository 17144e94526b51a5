use scraper::{Html, Selector};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

const INGRESS: &str = "/api/hassio_ingress/Tok3n-abc_123";

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

/// No link, form or asset may start with `/`: it would escape the ingress prefix.
fn assert_all_urls_relative(doc: &Html) {
    for (css, attr) in [
        ("a", "href"),
        ("form", "action"),
        ("link", "href"),
        ("script", "src"),
    ] {
        for element in select(doc, css) {
            if let Some(url) = element.value().attr(attr) {
                assert!(
                    !url.starts_with('/') && !url.contains("://"),
                    "{css} {attr}={url}"
                );
            }
        }
    }
}

async fn page(app: &crate::helpers::TestApp, path: &str) -> (u16, Html) {
    let response = app
        .client
        .get(format!("{}{path}", app.ui_base))
        .header("X-Ingress-Path", INGRESS)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        Html::parse_document(&response.text().await.unwrap()),
    )
}

#[tokio::test]
async fn the_empty_dashboard_says_what_to_do_first() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;

    let (status, doc) = page(&app, "/").await;

    assert_eq!(status, 200);
    let base = select(&doc, "base")[0]
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    assert_eq!(base, format!("{INGRESS}/"));
    let empty = select(&doc, "section.empty")[0].text().collect::<String>();
    assert!(empty.contains("Create your first monitor"), "{empty}");
    // Without a token the panel says that Home Assistant is not updated.
    assert!(!select(&doc, ".banner").is_empty());
    assert_all_urls_relative(&doc);
    app.stop().await;
}

#[tokio::test]
async fn the_form_creates_a_monitor_and_redirects_under_the_ingress_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let (_, form) = page(&app, "/monitors/new").await;
    assert_eq!(
        select(&form, "form")[0].value().attr("action"),
        Some("monitors")
    );
    assert_all_urls_relative(&form);

    let response = app
        .client
        .post(format!("{}/monitors", app.ui_base))
        .header("X-Ingress-Path", INGRESS)
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[
            ("name", "NAS <Photos>"),
            ("history_limit", "15"),
            ("webhook_id", ""),
            ("secret", ""),
            ("schedule", "12h"),
            ("grace", "30m"),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("{INGRESS}/monitors/nas_photos"));
    let (status, doc) = page(&app, "/monitors/nas_photos").await;
    assert_eq!(status, 200);
    let h1 = select(&doc, "h1")[0].inner_html();
    assert!(h1.contains("NAS &lt;Photos&gt;"), "escaped: {h1}");
    let url = select(&doc, "#webhook-url")[0].text().collect::<String>();
    assert!(
        url.starts_with(&format!("{}/api/webhook/", app.webhook_base)),
        "{url}"
    );
    assert_all_urls_relative(&doc);
    let api: serde_json::Value = app
        .get_ui("/api/monitors/nas_photos")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["schedule"], json!({"every": "12h"}));
    assert_eq!(api["grace"], 1800);
    assert_eq!(api["history_limit"], 15);
    app.stop().await;
}

#[tokio::test]
async fn a_mistake_in_the_form_shows_it_again_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let response = app
        .client
        .post(format!("{}/monitors", app.ui_base))
        .form(&[
            ("name", "Mine"),
            ("history_limit", "99"),
            ("webhook_id", ""),
            ("secret", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let doc = Html::parse_document(&response.text().await.unwrap());
    let error = select(&doc, "#form-error")[0].text().collect::<String>();
    assert!(error.contains("history_limit"), "{error}");
    assert_eq!(select(&doc, "#name")[0].value().attr("value"), Some("Mine"));
    app.stop().await;
}

#[tokio::test]
async fn the_monitor_page_lists_every_snapshot_of_a_kopia_report() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Server One"})).await;
    app.post_kopia(&monitor, "snapshot-report.txt.default.expected")
        .await;

    let (_, doc) = page(&app, "/monitors/server_one").await;

    let rows = select(&doc, "table.history tbody tr");
    assert_eq!(rows.len(), 4);
    let first = rows[3].text().collect::<String>();
    assert!(
        first.contains("/some/other/path") && first.contains("failed"),
        "{first}"
    );
    let (_, dashboard) = page(&app, "/").await;
    let row = select(&dashboard, "table.monitors tbody tr")[0]
        .text()
        .collect::<String>();
    assert!(
        row.contains("Server One") && row.contains("failed"),
        "{row}"
    );
    app.stop().await;
}

#[tokio::test]
async fn pages_that_do_not_exist_get_a_404_page_inside_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let (status, doc) = page(&app, "/monitors/nope").await;
    assert_eq!(status, 404);
    assert_all_urls_relative(&doc);
    let (status, _) = page(&app, "/no/such/page").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let response = app
        .client
        .post(format!("{}/api/monitors", app.ui_base))
        .header("Sec-Fetch-Site", "cross-site")
        .json(&json!({"name": "Evil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let listed: Vec<serde_json::Value> = app.get_ui("/api/monitors").await.json().await.unwrap();
    assert!(listed.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn inside_home_assistant_only_the_supervisor_may_open_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    // As an add-on (a Supervisor token is set), loopback is not the Supervisor.
    let app = spawn_app_with(
        dir.path(),
        None,
        &[
            ("SUPERVISOR_TOKEN", "t"),
            ("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0"),
            ("KOPIA_WEBHOOK_SUPERVISOR_URL", "http://127.0.0.1:9"),
        ],
    )
    .await;
    assert_eq!(app.get_ui("/").await.status().as_u16(), 403);
    assert_eq!(app.get_ui("/api/monitors").await.status().as_u16(), 403);
    assert_eq!(app.get_ui("/healthz").await.status().as_u16(), 200);
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(
        dir.path(),
        None,
        &[
            ("SUPERVISOR_TOKEN", "t"),
            ("KOPIA_WEBHOOK_SUPERVISOR_URL", "http://127.0.0.1:9"),
            ("KOPIA_WEBHOOK_TRUSTED_PROXY", "127.0.0.1"),
        ],
    )
    .await;
    assert_eq!(app.get_ui("/").await.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn static_assets_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let css = app.get_ui("/static/app.css").await;
    assert_eq!(css.status().as_u16(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(app.get_ui("/static/nope.css").await.status().as_u16(), 404);
    app.stop().await;
}

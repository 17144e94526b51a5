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

pub(crate) async fn page(app: &crate::helpers::TestApp, path: &str) -> (u16, Html) {
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
    assert!(empty.contains("create a monitor by hand"), "{empty}");
    let slug_url = select(&doc, "#slug-ping-url")[0].text().collect::<String>();
    assert!(
        slug_url.contains("/ping/") && slug_url.ends_with("/<job>?create=1"),
        "{slug_url}"
    );
    // Without a token the panel says that Home Assistant is not updated.
    assert!(!select(&doc, ".banner").is_empty());
    assert_all_urls_relative(&doc);
    let response = app.get_ui("/").await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("frame-ancestors 'self'") && csp.contains("default-src 'self'"),
        "{csp}"
    );
    assert!(
        response.headers().get("x-frame-options").is_none(),
        "the panel lives in an iframe"
    );
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
    let api: serde_json::Value = app.get_json("/api/monitors/nas_photos").await;
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
    let listed: Vec<serde_json::Value> = app.get_json("/api/monitors").await;
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
    // Every asset a page links is served (the favicon was not).
    let (_, dashboard) = page(&app, "/").await;
    for link in select(&dashboard, "link[href], script[src]") {
        let target = link
            .value()
            .attr("href")
            .or(link.value().attr("src"))
            .unwrap();
        let path = format!("/{}", target.split('?').next().unwrap());
        let response = app.get_ui(&path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    app.stop().await;
}

async fn post_form(
    app: &crate::helpers::TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.ui_base))
        .header("X-Ingress-Path", INGRESS)
        .header("Sec-Fetch-Site", "same-origin")
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn editing_keeps_the_key_and_a_generated_secret_is_shown_once_then_required() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Laptop"})).await;
    let (status, form) = page(&app, "/monitors/laptop/edit").await;
    assert_eq!(status, 200);
    assert_eq!(
        select(&form, "#name")[0].value().attr("value"),
        Some("Laptop")
    );
    assert_all_urls_relative(&form);

    let saved = post_form(
        &app,
        "/monitors/laptop/edit",
        &[
            ("name", "Work laptop"),
            ("history_limit", "20"),
            ("schedule", "0 3 * * *"),
            ("grace", "2h"),
            ("secret_action", "generate"),
        ],
    )
    .await;

    assert_eq!(saved.status().as_u16(), 200);
    let shown = Html::parse_document(&saved.text().await.unwrap());
    let secret = select(&shown, "#secret-value")[0]
        .text()
        .collect::<String>();
    assert_eq!(secret.len(), 32);
    let (_, page_after) = page(&app, "/monitors/laptop").await;
    assert!(
        !page_after.html().contains(&secret),
        "the secret is not shown again"
    );
    let api: serde_json::Value = app.get_json("/api/monitors/laptop").await;
    assert_eq!(api["name"], "Work laptop");
    assert_eq!(api["has_secret"], true);
    assert_eq!(api["schedule"], json!({"cron": "0 3 * * *", "tz": "UTC"}));
    let body = r#"{"status":"success"}"#;
    let unsigned = app.post_webhook(&monitor, body).await;
    assert_eq!(unsigned.status().as_u16(), 401);
    let signed = app
        .client
        .post(app.webhook_path(&monitor))
        .bearer_auth(&secret)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status().as_u16(), 200);

    let bad = post_form(
        &app,
        "/monitors/laptop/edit",
        &[
            ("name", "x"),
            ("schedule", "sometimes"),
            ("secret_action", "keep"),
        ],
    )
    .await;
    assert_eq!(bad.status().as_u16(), 400);
    let doc = Html::parse_document(&bad.text().await.unwrap());
    assert!(
        select(&doc, "#form-error")[0]
            .text()
            .collect::<String>()
            .contains("schedule")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_url_asks_first_and_the_old_one_stops_working() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Rotate"})).await;
    let (status, confirm) = page(&app, "/monitors/rotate/rotate").await;
    assert_eq!(status, 200);
    assert_eq!(
        select(&confirm, "form")[0].value().attr("action"),
        Some("monitors/rotate/rotate")
    );

    let done = post_form(&app, "/monitors/rotate/rotate", &[]).await;

    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(
        done.headers()["location"],
        format!("{INGRESS}/monitors/rotate?notice=rotated").as_str()
    );
    let old = app.post_webhook(&monitor, r#"{"status":"success"}"#).await;
    assert_eq!(old.status().as_u16(), 404);
    let renewed: serde_json::Value = app.get_json("/api/monitors/rotate").await;
    assert_ne!(renewed["webhook_id"], monitor["webhook_id"]);
    let new = app.post_webhook(&renewed, r#"{"status":"success"}"#).await;
    assert_eq!(new.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn delete_asks_first_then_removes_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Gone"})).await;
    let (status, _) = page(&app, "/monitors/gone/delete").await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get_ui("/api/monitors/gone").await.status().as_u16(),
        200,
        "asking deletes nothing"
    );

    let done = post_form(&app, "/monitors/gone/delete", &[]).await;

    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(done.headers()["location"], format!("{INGRESS}/").as_str());
    assert_eq!(
        app.get_ui("/api/monitors/gone").await.status().as_u16(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn the_test_button_stores_a_test_event_and_turns_the_monitor_green() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(json!({"name": "Button"})).await;

    let done = post_form(&app, "/monitors/button/test", &[]).await;

    assert_eq!(done.status().as_u16(), 303);
    let events = app.events("button", "").await;
    assert_eq!(
        (events[0]["kind"].as_str(), events[0]["sender"].as_str()),
        (Some("test"), Some("panel"))
    );
    let api: serde_json::Value = app.get_json("/api/monitors/button").await;
    assert_eq!(api["status"], "success");
    let (_, doc) = page(&app, "/monitors/button?notice=test").await;
    assert!(
        select(&doc, ".notice")[0]
            .text()
            .collect::<String>()
            .contains("test event")
    );
    let (_, doc) = page(&app, "/monitors/button?notice=%3Cscript%3E").await;
    assert!(
        select(&doc, ".notice").is_empty(),
        "only fixed notices are shown"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_sender_has_a_guide_with_this_monitors_urls() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Guides"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let (_, doc) = page(&app, "/monitors/guides").await;
    let guides: Vec<String> = select(&doc, "details.guide summary")
        .iter()
        .map(|s| s.text().collect())
        .collect();
    for sender in [
        "Kopia",
        "Duplicati",
        "borgmatic",
        "resticprofile",
        "Backrest",
        "Proxmox VE / Backup Server",
        "SimpleBackups",
    ] {
        assert!(
            guides.iter().any(|g| g == sender),
            "no guide for {sender}: {guides:?}"
        );
    }
    let text = doc.root_element().text().collect::<String>();
    assert!(text.contains(&format!("--endpoint={}/api/webhook/{id}", app.webhook_base)));
    assert!(text.contains(&format!("ping_url: {}/ping/{id}", app.webhook_base)));
    assert!(
        text.contains("{{ escape title }}"),
        "Proxmox's template is shown literally"
    );
    app.stop().await;
}

#[tokio::test]
async fn inside_home_assistant_the_url_uses_the_lan_address_and_mapped_port() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let supervisor = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/network/info"))
        .and(header("authorization", "Bearer supervisor-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"result": "ok", "data": {"interfaces": [
                {"interface": "end0", "primary": true, "ipv4": {"address": ["192.168.1.10/24"]}}
            ]}}),
        ))
        .mount(&supervisor)
        .await;
    let mapped = Mock::given(method("GET"))
        .and(path("/addons/self/info"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": "ok", "data": {"network": {"8098/tcp": 18098}}})),
        )
        .mount_as_scoped(&supervisor)
        .await;
    let core = crate::helpers::fake_core().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(
        dir.path(),
        Some(&core),
        &[
            ("SUPERVISOR_TOKEN", "supervisor-token"),
            ("KOPIA_WEBHOOK_SUPERVISOR_URL", &supervisor.uri()),
            ("KOPIA_WEBHOOK_TRUSTED_PROXY", "127.0.0.1"),
        ],
    )
    .await;
    let monitor = app.create_monitor(json!({"name": "LAN"})).await;
    let id = monitor["webhook_id"].as_str().unwrap().to_owned();
    crate::helpers::eventually(5, "the Supervisor's address in the URL", || async {
        let m: serde_json::Value = app.get_json("/api/monitors/lan").await;
        m["webhook_url"] == format!("http://192.168.1.10:18098/api/webhook/{id}")
    })
    .await;
    drop(mapped);
    app.stop().await;

    // The user emptied the port under Network: the panel says how to fix it.
    Mock::given(method("GET"))
        .and(path("/addons/self/info"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": "ok", "data": {"network": {"8098/tcp": null}}})),
        )
        .mount(&supervisor)
        .await;
    let app = spawn_app_with(
        dir.path(),
        Some(&core),
        &[
            ("SUPERVISOR_TOKEN", "supervisor-token"),
            ("KOPIA_WEBHOOK_SUPERVISOR_URL", &supervisor.uri()),
            ("KOPIA_WEBHOOK_TRUSTED_PROXY", "127.0.0.1"),
        ],
    )
    .await;
    crate::helpers::eventually(5, "a warning that the port is disabled", || async {
        let (_, doc) = page(&app, "/monitors/lan").await;
        doc.html().contains("The webhook port is disabled")
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn editing_a_monitor_keeps_its_cron_schedules_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    app.create_monitor(
        json!({"name": "Office", "schedule": {"cron": "0 3 * * *", "tz": "Europe/Berlin"}}),
    )
    .await;
    let (_, form) = page(&app, "/monitors/office/edit").await;
    let value = |selector: &str| {
        select(&form, selector)[0]
            .value()
            .attr("value")
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(value("#schedule_tz"), "Europe/Berlin");
    // The form sent back as the browser sends it: only the name changed.
    let saved = post_form(
        &app,
        "/monitors/office/edit",
        &[
            ("name", "Office PC"),
            ("history_limit", &value("#history_limit")),
            ("schedule", &value("#schedule")),
            ("schedule_tz", &value("#schedule_tz")),
            ("grace", &value("#grace")),
            ("secret_action", "keep"),
        ],
    )
    .await;
    assert_eq!(saved.status().as_u16(), 303);
    let api: serde_json::Value = app.get_json("/api/monitors/office").await;
    assert_eq!(
        api["schedule"],
        json!({"cron": "0 3 * * *", "tz": "Europe/Berlin"})
    );
    app.stop().await;
}

#[tokio::test]
async fn open_pages_hear_of_a_report_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Live"})).await;
    let now: serde_json::Value = app.get_json("/api/changes").await;
    let version = now["version"].as_u64().unwrap();
    let waiting = app
        .client
        .get(format!("{}/api/changes?since={version}", app.ui_base))
        .send();
    let started = std::time::Instant::now();
    let (answer, _) = tokio::join!(waiting, async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.post_webhook(&monitor, r#"{"status":"success"}"#).await
    });
    let answer: serde_json::Value = answer.unwrap().json().await.unwrap();
    assert!(answer["version"].as_u64().unwrap() > version);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered when the report arrived, not at the end of the wait"
    );
    app.stop().await;
}

//! Every wrong URL answers with what to do, in text for tools and a page for browsers.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn opening_a_webhook_url_in_a_browser_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "NAS <photos>"})).await;
    let url = app.webhook_path(&monitor);
    let page = app
        .client
        .get(&url)
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("This is the webhook of the monitor “NAS &#60;photos&#62;”"),
        "the name, escaped: {html}"
    );
    assert!(html.contains("Nothing has arrived yet."));
    let text = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with("This is the webhook of the monitor"),
        "{text}"
    );
    assert!(
        app.events("nas_photos", "").await.is_empty(),
        "a GET stores nothing"
    );

    let delete = app.client.delete(&url).send().await.unwrap();
    assert_eq!(delete.status().as_u16(), 405);
    assert!(delete.text().await.unwrap().contains("send them with POST"));
    app.stop().await;
}

#[tokio::test]
async fn a_trailing_slash_is_the_same_url_and_the_report_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Slash"})).await;
    let response = app
        .client
        .post(format!("{}/", app.webhook_path(&monitor)))
        .body(r#"{"status":"success"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.events("slash", "").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_path_without_api_names_the_monitor_and_the_right_url() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Laptop"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let response = app
        .client
        .post(format!("{}/webhook/{id}", app.webhook_base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let text = response.text().await.unwrap();
    assert!(text.contains("“Laptop”"), "{text}");
    assert!(text.contains(&format!("/api/webhook/{id}")), "{text}");

    let nothing = app
        .client
        .get(format!("{}/index.html", app.webhook_base))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status().as_u16(), 404);
    assert!(
        nothing
            .text()
            .await
            .unwrap()
            .contains("POST reports to /api/webhook/<id>")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_report_sent_to_the_panels_port_is_pointed_to_the_webhook_port() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "Wrong Port"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    let response = app
        .client
        .post(format!("{}/api/webhook/{id}", app.ui_base))
        .body(r#"{"status":"success"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let text = response.text().await.unwrap();
    assert!(text.contains("not its webhook port"), "{text}");
    assert!(text.contains(&format!("/api/webhook/{id}")), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_mistyped_webhook_id_leaves_a_trail_that_names_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let monitor = app.create_monitor(json!({"name": "NAS"})).await;
    let id = monitor["webhook_id"].as_str().unwrap();
    // One character wrong, as typed from a screen.
    let typo: String = id
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 5 {
                if c == 'x' { 'y' } else { 'x' }
            } else {
                c
            }
        })
        .collect();
    let response = app
        .client
        .post(format!("{}/api/webhook/{typo}", app.webhook_base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let status: serde_json::Value = app.get_json("/api/status").await;
    let listed = &status["unknown_requests"][0];
    assert_eq!(listed["did_you_mean"], "NAS");
    assert_eq!(listed["id"], format!("{}…", &typo[..4]));
    assert!(
        !status.to_string().contains(&typo),
        "the ID is never shown whole"
    );
    let (_, dashboard) = crate::panel::page(&app, "/").await;
    assert!(
        dashboard
            .html()
            .contains("did you mean monitor <strong>NAS</strong>?")
    );
    app.stop().await;
}

/// A URL pasted from the documentation with its placeholder left in says what goes there.
#[tokio::test]
async fn a_placeholder_left_in_the_url_says_what_to_put_there() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(dir.path(), None).await;
    let status: serde_json::Value = app.get_json("/api/status").await;
    let key = status["ping_key"].as_str().unwrap();
    for (path, expected) in [
        (
            format!("/ping/{key}/%3Cjob%3E"),
            "placeholder <job>: put the job's name there",
        ),
        (
            "/api/webhook/%3Cid%3E".to_owned(),
            "placeholder <id>: copy the monitor's URL",
        ),
    ] {
        let answer = app
            .client
            .post(format!("{}{path}", app.webhook_base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{path}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(expected), "{path}: {text}");
    }
    // curl sends `<job>` as typed: a request line actix's parser refuses before any handler.
    let address = app.webhook_base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!("GET /ping/{key}/<job> HTTP/1.1\r\nHost: {address}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("The URL still holds the placeholder <job>: put the job's name"),
        "{answer}"
    );
    app.stop().await;
}

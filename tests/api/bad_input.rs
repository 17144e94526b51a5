//! Hostile and broken input: every case is a clear 4xx or stored (200), never a 5xx, and
//! whatever was stored is escaped in the panel.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Stored,
    Refused,
}
use Expect::{Refused, Stored};

enum Target {
    Webhook,
    Ping(&'static str),
    Push(&'static str),
    Path(String),
}

struct Case {
    what: &'static str,
    target: Target,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    expect: Expect,
}

fn case(
    what: &'static str,
    target: Target,
    headers: &[(&'static str, &str)],
    body: impl Into<Vec<u8>>,
    expect: Expect,
) -> Case {
    Case {
        what,
        target,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.into(),
        expect,
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const XSS: &str = "<script>alert(1)</script>";

/// Bodies that are not what they claim to be, and values out of every range.
fn body_cases() -> Vec<Case> {
    use Target::*;
    vec![
        case(
            "truncated JSON that claims JSON",
            Webhook,
            &[JSON],
            r#"{"status": "succ"#,
            Refused,
        ),
        case(
            "truncated JSON without a claim",
            Webhook,
            &[],
            r#"{"status": "succ"#,
            Stored,
        ),
        case(
            "invalid UTF-8",
            Webhook,
            &[],
            vec![0xff, 0xfe, 0x00, 0x80, b'x'],
            Stored,
        ),
        case(
            "invalid UTF-8 claiming JSON",
            Webhook,
            &[JSON],
            vec![b'{', 0xff, b'}'],
            Refused,
        ),
        case(
            "a number beyond f64",
            Webhook,
            &[JSON],
            r#"{"status":"success","size_bytes":1e400}"#,
            Refused,
        ),
        case(
            "a number beyond u64",
            Webhook,
            &[JSON],
            r#"{"status":"success","files":99999999999999999999999}"#,
            Stored,
        ),
        case(
            "a size nobody can read",
            Webhook,
            &[JSON],
            r#"{"status":"success","size_bytes":"a lot"}"#,
            Refused,
        ),
        case(
            "a negative duration",
            Webhook,
            &[JSON],
            r#"{"status":"success","duration_s":-5}"#,
            Refused,
        ),
        case(
            "a duration of ages",
            Webhook,
            &[JSON],
            r#"{"status":"success","duration":"99999999999999h"}"#,
            Refused,
        ),
        case(
            "a nonsense date",
            Webhook,
            &[JSON],
            r#"{"status":"success","started_at":"2026-13-45T99:00:00Z"}"#,
            Refused,
        ),
        case(
            "a date far in the future",
            Webhook,
            &[JSON],
            r#"{"status":"success","finished_at":"2999-12-31T23:59:59Z"}"#,
            Stored,
        ),
        case(
            "a date past the end of time",
            Webhook,
            &[JSON],
            r#"{"status":"success","finished_at":"9999-12-31T23:59:59Z"}"#,
            Refused,
        ),
        case(
            "an end before the start",
            Webhook,
            &[JSON],
            r#"{"status":"success","started_at":"2026-01-02T00:00:00Z","finished_at":"2026-01-01T00:00:00Z"}"#,
            Stored,
        ),
        case(
            "an unknown kind",
            Webhook,
            &[JSON],
            r#"{"kind":"explode"}"#,
            Refused,
        ),
    ]
}

/// Bodies that are empty, deep, or full of control characters.
fn shape_cases() -> Vec<Case> {
    use Target::*;
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    vec![
        case("an empty body", Webhook, &[], "", Refused),
        case("only whitespace", Webhook, &[], " \n\t ", Refused),
        case("an empty object", Webhook, &[JSON], "{}", Stored),
        case("an array of numbers", Webhook, &[JSON], "[1,2,3]", Stored),
        case(
            "JSON nested 5000 deep",
            Webhook,
            &[],
            nested.clone(),
            Stored,
        ),
        case(
            "JSON nested 5000 deep claiming JSON",
            Webhook,
            &[JSON],
            nested,
            Refused,
        ),
        case(
            "NUL and control characters",
            Webhook,
            &[JSON],
            "{\"status\":\"success\",\"source\":\"a\\u0000b\\u0007c\"}",
            Stored,
        ),
    ]
}

/// Fields, headers and reports that are too much, wrong, or hostile.
fn field_cases() -> Vec<Case> {
    use Target::*;
    vec![
        case(
            "a 10 000 character source",
            Webhook,
            &[JSON],
            format!(
                r#"{{"status":"success","source":"{}"}}"#,
                "s".repeat(10_000)
            ),
            Stored,
        ),
        case(
            "script in every field",
            Webhook,
            &[JSON],
            format!(
                r#"{{"status":"{XSS}","source":"{XSS}","error":"<img src=x onerror=alert(1)>","kind":"run"}}"#
            ),
            Stored,
        ),
        case(
            "script in a Kopia path",
            Webhook,
            &[("Subject", "Successfully created a snapshot")],
            format!("Path: {XSS}\n\n  Status:      success\n  Error:       {XSS}"),
            Stored,
        ),
        case(
            "script in the Subject header",
            Webhook,
            &[("Subject", XSS)],
            "Path: /x\n\n  Status:      ok",
            Stored,
        ),
        case(
            "a Kopia start time that is not a time",
            Webhook,
            &[],
            "Path: /x\n\n  Status:      success\n  Start:       Thu, 99 Foo 2020\n  Duration:    1s",
            Stored,
        ),
        case(
            "a Kopia duration that is negative",
            Webhook,
            &[],
            "Path: /x\n\n  Status:      success\n  Duration:    -5s",
            Stored,
        ),
        case(
            "a Kopia size of 1e309 GB",
            Webhook,
            &[],
            "Path: /x\n\n  Size:        1e309 GB",
            Stored,
        ),
        case(
            "an HTML report without rows",
            Webhook,
            &[],
            "<!doctype html><table class=\"snapshotstatus-x\"></table>",
            Refused,
        ),
        case(
            "a false gzip claim",
            Webhook,
            &[("Content-Encoding", "gzip")],
            r#"{"status":"success"}"#,
            Stored,
        ),
        case(
            "a UTF-16 charset claim over UTF-8",
            Webhook,
            &[("Content-Type", "application/json; charset=utf-16")],
            r#"{"status":"success"}"#,
            Stored,
        ),
        case(
            "a 16 KB Subject header",
            Webhook,
            &[("Subject", &"S".repeat(16_000))],
            "Path: /x",
            Stored,
        ),
        case(
            "a 100 KB header",
            Webhook,
            &[("X-Padding", &"P".repeat(100_000))],
            "Path: /x",
            Stored,
        ),
        Case {
            what: "200 headers",
            target: Webhook,
            headers: (0..200)
                .map(|i| {
                    (
                        &*Box::leak(format!("X-H{i}").into_boxed_str()),
                        "v".to_owned(),
                    )
                })
                .collect(),
            body: b"Path: /x".to_vec(),
            expect: Refused,
        },
    ]
}

/// Other senders' fields that are not what they should be.
fn sender_cases() -> Vec<Case> {
    use Target::*;
    vec![
        case(
            "a signature header on a monitor without a secret",
            Webhook,
            &[("SB-Signature", "zz")],
            r#"{"status":"success"}"#,
            Stored,
        ),
        case(
            "broken percent-encoding in a form",
            Webhook,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "message=%ZZ%",
            Stored,
        ),
        case(
            "a Proxmox timestamp that is text",
            Webhook,
            &[JSON],
            r#"{"title":"t","message":"m","severity":"info","timestamp":"abc"}"#,
            Refused,
        ),
        case(
            "a SimpleBackups start that is not a time",
            Webhook,
            &[JSON],
            r#"{"id":1,"type":"backup","status":"success","started_at":"yesterday","backup":{"name":"x"}}"#,
            Refused,
        ),
        case(
            "a JVS timestamp that is not a time",
            Webhook,
            &[JSON],
            r#"{"event":"snapshot.created","timestamp":"nope"}"#,
            Refused,
        ),
        case(
            "a body over 1 MiB",
            Webhook,
            &[],
            vec![b'x'; 1024 * 1024 + 1],
            Refused,
        ),
    ]
}

/// Pings, pushes and IDs in the URL.
fn url_cases() -> Vec<Case> {
    use Target::*;
    vec![
        case("an exit status over 255", Ping("/256"), &[], "", Refused),
        case(
            "an exit status of 20 digits",
            Ping("/99999999999999999999"),
            &[],
            "",
            Refused,
        ),
        case(
            "a run ID that is not a UUID",
            Ping("?rid=../../etc"),
            &[],
            "",
            Refused,
        ),
        case(
            "a ping signal that does not exist",
            Ping("/explode"),
            &[],
            "",
            Refused,
        ),
        case(
            "a ping with a binary body",
            Ping("/log"),
            &[],
            vec![0u8, 159, 146, 150],
            Stored,
        ),
        case(
            "a push ping that is not a number",
            Push("ping=NaN"),
            &[],
            "",
            Refused,
        ),
        case(
            "a push ping beyond f64",
            Push("ping=1e309"),
            &[],
            "",
            Refused,
        ),
        case(
            "a push message with script",
            Push("status=down&msg=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
            &[],
            "",
            Stored,
        ),
        case(
            "path traversal as the ID",
            Path("/api/webhook/..%2F..%2Fetc%2Fpasswd".into()),
            &[],
            "x",
            Refused,
        ),
        case(
            "a 5000 character ID",
            Path(format!("/api/webhook/{}", "a".repeat(5000))),
            &[],
            "x",
            Refused,
        ),
        case(
            "a NUL in the ID",
            Path("/api/webhook/abc%00defghijklmnopq".into()),
            &[],
            "x",
            Refused,
        ),
        case(
            "an ID with a newline",
            Path("/ping/abc%0Adefghijklmnopqrs".into()),
            &[],
            "x",
            Refused,
        ),
    ]
}

fn cases() -> Vec<Case> {
    [
        body_cases(),
        shape_cases(),
        field_cases(),
        sender_cases(),
        url_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

async fn send(app: &TestApp, id: &str, c: &Case) -> u16 {
    let url = match &c.target {
        Target::Webhook => format!("{}/api/webhook/{id}", app.webhook_base),
        Target::Ping(suffix) => format!("{}/ping/{id}{suffix}", app.webhook_base),
        Target::Push(query) => format!("{}/api/push/{id}?{query}", app.webhook_base),
        Target::Path(path) => format!("{}{path}", app.webhook_base),
    };
    // A server that refuses early may close the connection while the client still sends
    // (an oversized body or head); the answer then races the reset, so try again.
    let mut last_error = None;
    for _ in 0..5 {
        let mut request = app.client.post(&url).body(c.body.clone());
        for (name, value) in &c.headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => return response.status().as_u16(),
            Err(e) => last_error = Some(e),
        }
    }
    panic!("{}: no answer: {last_error:?}", c.what);
}

#[tokio::test]
async fn every_bad_input_gets_a_clear_4xx_or_is_stored_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let unlimited = [
        ("KOPIA_WEBHOOK_RATE_PER_SEC", "1000"),
        ("KOPIA_WEBHOOK_RATE_BURST", "1000"),
    ];
    let app = spawn_app_with(dir.path(), None, &unlimited).await;
    let monitor = app.create_monitor(json!({"name": "Target"})).await;
    let id = monitor["webhook_id"].as_str().unwrap().to_owned();
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let mut wrong = Vec::new();
    for c in &cases {
        let status = send(&app, &id, c).await;
        let ok = match c.expect {
            Stored => status == 200,
            Refused => (400..500).contains(&status),
        };
        if !ok || status >= 500 {
            wrong.push(format!("{}: expected {:?}, got {status}", c.what, c.expect));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Everything stored or refused shows in the panel, escaped.
    for page in ["/", "/monitors/target"] {
        let html = app.get_ui(page).await.text().await.unwrap();
        for raw in [XSS, "<img src=x onerror", "<script>alert"] {
            assert!(!html.contains(raw), "{page} contains {raw} unescaped");
        }
    }
    let html = app.get_ui("/monitors/target").await.text().await.unwrap();
    assert!(
        html.contains("&#60;script&#62;alert(1)"),
        "the script arrived and is shown escaped"
    );
    assert!(
        !html.contains('\u{0}'),
        "control characters are not passed to the page"
    );
    app.stop().await;
}

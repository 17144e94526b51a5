//! Property tests: no parser and no signature check panics, whatever arrives; a correct
//! signature always verifies; parsed events keep their invariants.

use hmac::{Hmac, KeyInit, Mac};
use jiff::tz::TimeZone;
use kopia_webhook::senders::{self, Inbound, gotify, healthchecks, ntfy, uptime_kuma};
use kopia_webhook::signature;
use proptest::prelude::*;
use serde_json::{Map, Value};
use sha2::Sha256;

const KEYS: &[&str] = &[
    "status",
    "source",
    "path",
    "job",
    "kind",
    "started_at",
    "finished_at",
    "startTime",
    "endTime",
    "duration",
    "duration_s",
    "duration_ms",
    "size",
    "size_bytes",
    "files",
    "dirs",
    "directories",
    "error",
    "id",
    "type",
    "backup",
    "server",
    "storage",
    "event",
    "timestamp",
    "repo_root",
    "Data",
    "Extra",
    "Exception",
    "ParsedResult",
    "BeginTime",
    "EndTime",
    "SizeOfExaminedFiles",
    "backup-name",
    "title",
    "message",
    "severity",
    "fields",
    "Duration",
    "MainOperation",
    "OperationName",
    "backup-id",
    "machine-name",
    "hostname",
    "job-id",
    "run_id",
    "result",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,30}".prop_map(Value::String),
        prop_oneof![
            Just("success"),
            Just("error"),
            Just("Fatal"),
            Just("2026-01-31T03:00:00Z"),
            Just("1h2m3.5s"),
            Just("00:01:12.5"),
            Just("456 B (+56 B)"),
            Just("snapshot.created"),
            Just("verify.failed"),
            Just("Thu, 02 Jan 2020 03:04:05 +0000"),
            Just("-5"),
            Just("99999999999999999999"),
            Just("info"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        (prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 0..6)).prop_map(
            |pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            },
        )
    })
}

/// Every sender's real JSON fixture.
fn fixtures() -> Vec<Value> {
    let mut out = Vec::new();
    for sender in ["duplicati", "jvs", "proxmox", "simplebackups"] {
        // (duplicati/ holds the live status reports too.)
        let dir = format!("{}/tests/fixtures/{sender}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap());
            }
        }
    }
    out
}

/// The paths of every leaf of a JSON value (`["Data", "Duration"]`).
fn leaf_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(k.clone());
                leaf_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn set_path(value: &mut Value, path: &[String], new: Value) {
    match path.split_first() {
        None => *value = new,
        Some((head, rest)) => {
            if let Some(child) = value.get_mut(head) {
                set_path(child, rest, new);
            }
        }
    }
}

/// Values that break parsers: huge and negative numbers, .NET timespans with enormous day
/// counts, odd status words, times far away.
fn hostile_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9]{1,20}\\.[0-9]{1,3}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{1,7})?".prop_map(Value::String),
        "-?[0-9]{1,25}(:[0-9]{1,3}){0,3}".prop_map(Value::String),
        "[ -~]{0,30}".prop_map(Value::String),
        prop::sample::select(vec![
            "sucess",
            "aborted",
            "Fatal",
            "Warning",
            "",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59Z"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn kopia_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[ -~]{0,20}".prop_map(|p| format!("Path: {p}")),
        prop::sample::select(vec![
            "success", "fatal", "warnings", "ok", "error", "weird", "", "sucess"
        ])
        .prop_map(|s| format!("  Status:      {s}")),
        "[ -~]{0,40}".prop_map(|s| format!("  Start:       {s}")),
        "[0-9hms.µ]{0,12}".prop_map(|s| format!("  Duration:    {s}")),
        "[0-9. KMGTPEiB()+-]{0,20}".prop_map(|s| format!("  Size:        {s}")),
        "[0-9 ()+-]{0,12}".prop_map(|s| format!("  Files:       {s}")),
        "[ -~]{0,30}".prop_map(|s| format!("  Error:       {s}")),
        Just("  Failed Entries:".to_owned()),
        "[ -~]{0,30}".prop_map(|s| format!("  - {s}")),
        Just(String::new()),
        Just("Generated at Thu, 02 Jan 2020 03:04:05 +0000 by Kopia v0.23.1.".to_owned()),
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec![
        "Subject",
        "Content-Type",
        "SB-Signature",
        "X-JVS-Signature",
        "X-Signature-256",
        "Authorization",
    ]);
    let value = prop_oneof![
        "[ -~]{0,80}",
        Just("application/json".to_owned()),
        Just("Failed to create 1 of 4 snapshots on host".to_owned()),
        Just("Kopia has encountered an error during Maintenance on host".to_owned()),
        Just("sha256=zz".to_owned()),
        Just("Bearer ".to_owned()),
    ];
    prop::collection::vec((name.prop_map(str::to_owned), value), 0..4)
}

fn check_parse(headers: &[(String, String)], body: &[u8]) {
    let zone = TimeZone::UTC;
    let inbound = Inbound::new(headers, body, &zone);
    if let Ok(parsed) = senders::parse(&inbound) {
        for e in parsed.events {
            assert!(e.duration_ms().is_none_or(|d| d >= 0));
            if let (Some(s), Some(f)) = (e.started_at(), e.finished_at()) {
                assert!(f >= s);
            }
            assert!(e.error().is_none_or(|t| t.chars().count() <= 2001));
            assert!(e.raw().is_none_or(|r| r.len() <= 100_000));
        }
    }
    let _ = signature::verify("a secret", &inbound);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_never_panic(headers in headers(), body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_parse(&headers, &body);
    }

    #[test]
    fn any_sender_shaped_json_never_panics(headers in headers(), value in json_value()) {
        check_parse(&headers, value.to_string().as_bytes());
        check_parse(&headers, Value::Array(vec![value.clone(), value]).to_string().as_bytes());
    }

    #[test]
    fn real_sender_payloads_with_hostile_values_never_panic(
        which in any::<prop::sample::Index>(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), hostile_leaf()), 1..6),
    ) {
        let fixtures = fixtures();
        let mut value = fixtures[which.index(fixtures.len())].clone();
        let mut paths = Vec::new();
        leaf_paths(&value, &mut Vec::new(), &mut paths);
        for (at, leaf) in changes {
            let path = paths[at.index(paths.len())].clone();
            set_path(&mut value, &path, leaf);
        }
        let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        check_parse(&headers, value.to_string().as_bytes());
    }

    #[test]
    fn any_kopia_shaped_text_never_panics(headers in headers(), text in kopia_text()) {
        check_parse(&headers, text.as_bytes());
        let html = format!("<!doctype html><table><tr class=\"snapshotstatus-fatal\"><td>{}</td></tr></table>", text);
        check_parse(&headers, html.as_bytes());
    }

    #[test]
    fn any_form_body_never_panics(message in "[ -~\n]{0,400}") {
        let body = serde_urlencoded::to_string([("message", format!("Duplicati Backup report for x\n{message}"))]).unwrap();
        check_parse(&[], body.as_bytes());
    }

    #[test]
    fn pings_never_panic(suffix in proptest::option::of("[ -~]{0,12}"), rid in proptest::option::of("[ -~]{0,40}"),
                         body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = healthchecks::Signal::parse(suffix.as_deref());
        let _ = healthchecks::parse_rid(rid.as_deref());
        for signal in [healthchecks::Signal::Start, healthchecks::Signal::Fail, healthchecks::Signal::ExitStatus(3)] {
            let _ = healthchecks::ping_event(signal, None, &body);
        }
    }

    #[test]
    fn pushes_never_panic(query in "[ -~]{0,80}") {
        let _ = uptime_kuma::push_event(&query);
    }

    #[test]
    fn ntfy_and_gotify_never_panic(headers in headers(), value in json_value(),
                                   body in prop::collection::vec(any::<u8>(), 0..512),
                                   query in prop::collection::vec(("[a-zA-Z-]{1,12}", "[ -~]{0,40}"), 0..5)) {
        let zone = jiff::tz::TimeZone::UTC;
        let json = value.to_string();
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        for bytes in [json.as_bytes(), body.as_slice()] {
            let inbound = Inbound::new(&headers, bytes, &zone).with_query(&query);
            if let Ok(publish) = ntfy::from_json(&inbound) {
                let _ = publish.notification.into_event();
            }
            if let Ok(notification) = ntfy::from_request(&inbound) {
                let _ = notification.into_event();
            }
            let _ = gotify::token(&inbound);
            if let Ok(message) = gotify::message(&inbound) {
                let _ = message.into_event();
            }
        }
    }

    #[test]
    fn a_correct_signature_always_verifies_and_a_changed_body_never_does(
        secret in "[ -~]{1,40}", body in prop::collection::vec(any::<u8>(), 0..512), flip in any::<prop::sample::Index>(),
        header in prop::sample::select(vec!["SB-Signature", "X-JVS-Signature", "X-Signature-256"]),
        prefix in prop::bool::ANY,
    ) {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&body);
        let digest = hex::encode(mac.finalize().into_bytes());
        let value = if prefix { format!("sha256={digest}") } else { digest };
        let headers = vec![(header.to_owned(), value)];
        let zone = TimeZone::UTC;
        prop_assert!(signature::verify(&secret, &Inbound::new(&headers, &body, &zone)).is_ok());
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            prop_assert!(signature::verify(&secret, &Inbound::new(&headers, &changed, &zone)).is_err());
        }
    }

    #[test]
    fn a_bearer_token_verifies_only_itself(secret in "[!-~]{8,40}", other in "[!-~]{1,40}") {
        let zone = TimeZone::UTC;
        let headers = vec![("Authorization".to_owned(), format!("Bearer {other}"))];
        let result = signature::verify(&secret, &Inbound::new(&headers, b"x", &zone));
        prop_assert_eq!(result.is_ok(), other == secret);
    }
}

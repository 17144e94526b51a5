//! Turning what backup tools send into [`BackupEvent`]s.
//!
//! Each sender lives in its own module and implements [`Sender`]: given the request, it
//! either says "not mine" (`None`) or parses it. Content-Type is never trusted on its own:
//! Kopia sends none at all. Adding a sender means adding a module (its `KIND` and `INFO`) and
//! its entry in [`SENDERS`].

mod apprise;
mod backrest;
mod duplicati;
mod fields;
mod generic;
pub mod gotify;
pub mod healthchecks;
mod jvs;
mod kopia;
mod notification;
pub use notification::{Level, Notification};
pub mod ntfy;
mod proxmox;
mod reader;
pub use reader::{Echo, Read, Reader};
mod shoutrrr;
mod simplebackups;
pub mod uptime_kuma;

use std::cell::OnceCell;

use jiff::tz::TimeZone;

use crate::domain::{BackupEvent, EventKind, RunStatus, SenderKind};

/// A sender's parser.
pub trait Sender: Sync {
    /// `None`: this body is not in this sender's format. `Some(Err)`: it is, but broken.
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>>;
}

/// One sender the add-on reads: the name it stores, the name people know it by, and how
/// its bodies are recognised on the report URL.
pub struct SenderInfo {
    pub kind: SenderKind,
    /// As people write it: "Duplicati", "Healthchecks-style ping".
    pub name: &'static str,
    /// Tried on bodies of the report URL; `None`: reached through URLs of its own (pings,
    /// pushes, ntfy, Gotify) or written by another's reader.
    pub sniffer: Option<&'static dyn Sender>,
}

/// Every sender. Bodies are tried in this order; the first that recognises one wins.
/// Specific formats come before the generic JSON reader, which accepts any object with
/// documented field names.
pub const SENDERS: &[&SenderInfo] = &[
    &kopia::INFO,
    &backrest::INFO,
    &apprise::INFO,
    &simplebackups::INFO,
    &jvs::INFO,
    &duplicati::INFO,
    &proxmox::INFO,
    &generic::INFO,
    // Last: a title and a message, or plain text whose words say how it went.
    &shoutrrr::INFO,
    &shoutrrr::TEXT_INFO,
    &healthchecks::INFO,
    &uptime_kuma::INFO,
    &ntfy::INFO,
    &gotify::INFO,
];

/// The name people know a sender by ("Duplicati"); a stored name no sender has any more
/// is shown as it is.
pub fn display_name(kind: SenderKind) -> &'static str {
    match SENDERS.iter().find(|s| s.kind == kind) {
        Some(sender) => sender.name,
        None if kind == SenderKind::PANEL => "Panel test",
        None if kind == SenderKind::HOME_ASSISTANT => "Home Assistant",
        None if kind == SenderKind::UNKNOWN => "Unrecognised",
        None => kind.as_str(),
    }
}

/// A run whose log says it only checked the backups: borgmatic's `check` action logs
/// "Running consistency checks", its `create` "Creating archive" (a plain `borgmatic` run
/// does both, and is a backup).
pub(crate) fn checked_only(log: &str) -> bool {
    log.contains("Running consistency checks") && !log.contains("Creating archive")
}

/// `kind`, or a check where the log says the run only checked the backups.
pub(crate) fn run_or_check(kind: EventKind, log: &str) -> EventKind {
    match kind {
        EventKind::Run if checked_only(log) => EventKind::Check,
        other => other,
    }
}

/// A sender's own status code, read with `known`; anything else falls back to the shared
/// status words, and what neither understands is a warning that names it.
pub(crate) fn status_or_note(
    value: Option<&str>,
    known: impl Fn(&str) -> Option<RunStatus>,
) -> (RunStatus, Option<String>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (
            RunStatus::Warning,
            Some("the report gives no status".to_owned()),
        ),
        Some(value) => match known(value) {
            Some(status) => (status, None),
            None => RunStatus::from_report(value),
        },
    }
}

/// The first non-empty line of a text, bounded: a short reason for lists and logs.
pub(crate) fn first_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

/// Why a body was refused; said back to the sender in a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("the request body is empty: send the backup tool's report in the body")]
    EmptyBody,
    #[error(
        "the body claims to be JSON but is not valid JSON ({0}); check the template that builds it"
    )]
    MalformedJson(String),
    #[error("{0}")]
    Invalid(String),
}

/// One webhook request as the parsers see it.
pub struct Inbound<'a> {
    headers: &'a [(String, String)],
    body: &'a [u8],
    /// Zone for times that carry none (naive `2021-12-12 12:12:12`).
    zone: &'a TimeZone,
    /// The URL's query string, undecoded (pings, pushes and ntfy read it).
    query: &'a str,
    /// A ping's signal from its path (`/ping/<id>/start`), if the URL has one.
    signal: Option<&'a str>,
    json: OnceCell<Option<serde_json::Value>>,
    query_pairs: OnceCell<Vec<(String, String)>>,
}

impl<'a> Inbound<'a> {
    pub fn new(headers: &'a [(String, String)], body: &'a [u8], zone: &'a TimeZone) -> Self {
        Self {
            headers,
            body,
            zone,
            query: "",
            signal: None,
            json: OnceCell::new(),
            query_pairs: OnceCell::new(),
        }
    }

    /// The same request with the URL's query string.
    pub fn with_query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    pub fn query(&self) -> &str {
        self.query
    }

    /// The same request with the signal its path names (`start`, `fail`, an exit status).
    pub fn with_signal(mut self, signal: Option<&'a str>) -> Self {
        self.signal = signal;
        self
    }

    /// The signal the URL's path names, if any (else pings read `?event=`).
    pub fn signal(&self) -> Option<&str> {
        self.signal
    }

    /// The query's pairs, decoded; a query that does not decode has none.
    pub fn query_pairs(&self) -> &[(String, String)] {
        self.query_pairs
            .get_or_init(|| serde_urlencoded::from_str(self.query).unwrap_or_default())
    }

    /// The first value of a query parameter, by its exact name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query_pairs()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body(&self) -> &[u8] {
        self.body
    }

    pub fn zone(&self) -> &TimeZone {
        self.zone
    }

    /// The body as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.body).ok()
    }

    /// The body as JSON, if it looks like JSON and parses.
    ///
    /// Kopia's JSON templates escape strings with Go's `js` function, which writes `'` as
    /// `\'`: not valid JSON, so that one escape is undone before giving up.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| {
                if !self.looks_like_json() {
                    return None;
                }
                serde_json::from_slice(self.body).ok().or_else(|| {
                    let text = self.text()?;
                    text.contains("\\'")
                        .then(|| serde_json::from_str(&text.replace("\\'", "'")).ok())
                        .flatten()
                })
            })
            .as_ref()
    }

    pub(crate) fn looks_like_json(&self) -> bool {
        matches!(
            self.body.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[')
        )
    }

    /// Declared a form (urlencoded or multipart), or one line of `key=value` pairs.
    pub(crate) fn looks_like_form(&self) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.contains("x-www-form-urlencoded") || ct.contains("multipart/form-data")
        }) || self.text().is_some_and(|t| {
            let t = t.trim();
            !t.contains(char::is_whitespace) && t.contains('=')
        })
    }

    /// The body's form fields: `application/x-www-form-urlencoded`, or the text fields of
    /// `multipart/form-data` (what `curl -F` sends). No fields if it is neither.
    pub fn form(&self) -> Vec<(String, String)> {
        let content_type = self.header("content-type").unwrap_or_default();
        match fields::multipart_boundary(content_type) {
            Some(boundary) => fields::multipart_text_fields(self.body, &boundary),
            None => serde_urlencoded::from_bytes(self.body).unwrap_or_default(),
        }
    }

    fn claims_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
    }
}

/// What a request said.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub events: Vec<BackupEvent>,
    /// The body was kept but no sender reads it: why, in words.
    pub not_understood: Option<String>,
}

/// Reads a request into events. A body no sender recognises is kept, never dropped, as an
/// `unrecognized` event whose warning says why it was not understood.
pub fn parse(inbound: &Inbound<'_>) -> Result<Parsed, SenderError> {
    if inbound.body.iter().all(u8::is_ascii_whitespace) {
        return Err(SenderError::EmptyBody);
    }
    for sender in SENDERS.iter().filter_map(|s| s.sniffer) {
        if let Some(parsed) = sender.parse(inbound) {
            return parsed.map(|events| Parsed {
                events,
                not_understood: None,
            });
        }
    }
    if inbound.claims_json()
        && let Err(e) = serde_json::from_slice::<serde_json::Value>(inbound.body)
    {
        return Err(SenderError::MalformedJson(e.to_string()));
    }
    let why = why_not_understood(inbound);
    Ok(Parsed {
        events: vec![BackupEvent::unrecognized(inbound.body, &why)],
        not_understood: Some(why),
    })
}

/// Why no sender reads this body, in words that say what to fix.
fn why_not_understood(inbound: &Inbound<'_>) -> String {
    const NO_SENDER: &str = "no sender reads this (see the add-on's documentation for the formats)";
    let list = |names: Vec<String>| -> String {
        let mut shown: Vec<String> = names.iter().take(8).cloned().collect();
        if names.len() > 8 {
            shown.push(format!("and {} more", names.len() - 8));
        }
        shown.join(", ")
    };
    if inbound.looks_like_json() {
        return match serde_json::from_slice::<serde_json::Value>(inbound.body) {
            Err(e) => format!("not understood: not valid JSON ({e})"),
            Ok(serde_json::Value::Object(fields)) => format!(
                "not understood: JSON with fields {}: {NO_SENDER}",
                list(fields.keys().map(|k| printable_short(k)).collect())
            ),
            Ok(_) => format!("not understood: a JSON list: {NO_SENDER}"),
        };
    }
    if inbound.looks_like_form()
        && let fields = inbound.form()
        && !fields.is_empty()
    {
        return format!(
            "not understood: a form with fields {}: {NO_SENDER}",
            list(
                fields
                    .into_iter()
                    .map(|(k, _)| printable_short(&k))
                    .collect()
            )
        );
    }
    match inbound.text().and_then(first_line) {
        Some(line) => format!("not understood: text starting {line:?}: {NO_SENDER}"),
        None => format!(
            "not understood: {} bytes that are not text: {NO_SENDER}",
            inbound.body.len()
        ),
    }
}

fn printable_short(text: &str) -> String {
    crate::domain::printable(text.as_bytes())
        .chars()
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;

    fn parse_with(headers: &[(&str, &str)], body: &str) -> Result<Vec<BackupEvent>, SenderError> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        parse(&Inbound::new(&headers, body.as_bytes(), &TimeZone::UTC)).map(|p| p.events)
    }

    #[test]
    fn every_sender_has_its_own_name_and_is_read_back_from_the_database() {
        let mut names: Vec<&str> = SENDERS.iter().map(|s| s.kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SENDERS.len(), "names are unique");
        for sender in SENDERS {
            let stored = SenderKind::from_db(sender.kind.as_str()).unwrap();
            assert_eq!(stored, sender.kind);
            assert_eq!(display_name(stored), sender.name);
        }
        assert_eq!(display_name(SenderKind::PANEL), "Panel test");
        // A name stored by a sender this version no longer has is still shown.
        let gone = SenderKind::from_db("retired_tool").unwrap();
        assert_eq!(display_name(gone), "retired_tool");
        assert_eq!(SenderKind::from_db("Not A Name"), None);
    }

    #[test]
    fn what_was_not_understood_is_said() {
        let events = parse_with(&[], r#"{"status":"success","source":"a",}"#).unwrap();
        let error = events[0].error().unwrap();
        assert!(
            error.starts_with("not understood: not valid JSON (trailing comma at line 1 column"),
            "{error}"
        );
        assert_eq!(events[0].status(), crate::domain::RunStatus::Warning);
        let form = parse_with(
            &[("content-type", "application/x-www-form-urlencoded")],
            "status=ok&source=db",
        )
        .unwrap();
        assert!(
            form[0]
                .error()
                .unwrap()
                .contains("a form with fields status, source"),
            "{:?}",
            form[0].error()
        );
        let json = parse_with(&[], r#"{"hello": 1}"#).unwrap();
        assert!(json[0].error().unwrap().contains("JSON with fields hello"));
    }

    #[test]
    fn empty_bodies_are_refused_with_a_reason() {
        assert_eq!(parse_with(&[], " \n"), Err(SenderError::EmptyBody));
    }

    #[test]
    fn broken_json_that_claims_to_be_json_is_a_400() {
        let err = parse_with(&[("Content-Type", "application/json")], "{\"status\": ").unwrap_err();
        assert!(matches!(err, SenderError::MalformedJson(_)), "{err:?}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn unknown_text_is_kept_as_unrecognized() {
        let events = parse_with(&[], "hello there").unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind(), EventKind::Unrecognized);
        assert_eq!(events[0].raw(), Some(&b"hello there"[..]));
    }

    #[test]
    fn gos_js_escaped_apostrophes_are_read() {
        // What `{{ .Manifest.Source.Path | js }}` renders for a path with an apostrophe.
        let body = r#"{"status":"success","path":"/home/o\'brien"}"#;
        let events = parse_with(&[("Content-Type", "application/json")], body).unwrap();
        assert_eq!(events[0].source(), Some("/home/o'brien"));
    }

    #[test]
    fn unknown_json_is_kept_as_unrecognized() {
        let events =
            parse_with(&[("content-type", "application/json")], r#"{"hello": 1}"#).unwrap();
        assert_eq!(events[0].kind(), EventKind::Unrecognized);
    }
}

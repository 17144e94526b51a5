//! Apprise's `json://`, `form://` and `xml://` notifications (senders-2.md §1): what
//! borgmatic's `apprise` hook, the `apprise` command and every tool built on Apprise send.
//! The `type` (`info`, `success`, `warning`, `failure`) is the outcome.

use quick_xml::events::Event;
use serde_json::Value;

use super::notification::{Level, Notification};
use super::{Inbound, Sender, SenderError};
use crate::domain::{BackupEvent, RunStatus, SenderKind};

/// The name this reader stores with each event.
pub const KIND: SenderKind = SenderKind::named("apprise");
pub const INFO: super::SenderInfo = super::SenderInfo {
    kind: KIND,
    name: "Apprise",
    sniffer: Some(&Apprise),
};

pub struct Apprise;

impl Sender for Apprise {
    fn parse(&self, inbound: &Inbound<'_>) -> Option<Result<Vec<BackupEvent>, SenderError>> {
        let notification = from_json(inbound)
            .or_else(|| from_form(inbound))
            .or_else(|| from_xml(inbound))?;
        Some(Ok(vec![notification.into_event()]))
    }
}

/// Apprise's notify types.
fn level(kind: Option<&str>) -> Level {
    match kind.map(|k| k.trim().to_ascii_lowercase()).as_deref() {
        Some("success") => Level::Status(RunStatus::Success),
        Some("warning") => Level::Status(RunStatus::Warning),
        Some("failure") => Level::Status(RunStatus::Failed),
        Some("info") => Level::Info,
        _ => Level::None,
    }
}

/// `{"version": "1.0", "title", "message", "attachments": [], "type"}`; `:message=text`
/// renames the message key and `:type=` removes the type, so the shape is checked by
/// `version` with `attachments` or `type`.
fn from_json(inbound: &Inbound<'_>) -> Option<Notification> {
    let object = inbound.json()?.as_object()?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    if text("version").is_none()
        || !(object.contains_key("attachments") || object.contains_key("type"))
    {
        return None;
    }
    let message = ["message", "text", "body"]
        .iter()
        .find_map(|k| text(k))
        .unwrap_or_default();
    Some(Notification {
        sender: KIND,
        title: text("title").unwrap_or_default().to_owned(),
        message: message.to_owned(),
        level: level(text("type")),
    })
}

/// `version=1.0&title=…&message=…&type=…` (and the same in a query for `method=GET`).
fn from_form(inbound: &Inbound<'_>) -> Option<Notification> {
    if inbound.looks_like_json() {
        return None;
    }
    // A multipart form when Apprise attaches files, else urlencoded.
    let fields = inbound.form();
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    field("version")?;
    if field("type").is_none() && field("message").is_none() {
        return None;
    }
    Some(Notification {
        sender: KIND,
        title: field("title").unwrap_or_default().to_owned(),
        message: field("message").unwrap_or_default().to_owned(),
        level: level(field("type")),
    })
}

/// A SOAP envelope whose `<Notification>` holds `Subject`, `Message` and `MessageType`
/// (HTML-escaped values).
fn from_xml(inbound: &Inbound<'_>) -> Option<Notification> {
    let text = inbound.text()?;
    if !text.contains("<Notification") {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let (mut subject, mut message, mut kind) = (String::new(), String::new(), None);
    let mut current: Option<String> = None;
    let mut inside = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(tag) => {
                let name = tag.local_name().as_ref().to_owned();
                if name == "Notification" {
                    inside = true;
                }
                current = Some(name);
            }
            Event::Text(value) if inside => {
                let value = value.xml10_content();
                let value = quick_xml::escape::unescape(&value).ok()?.into_owned();
                match current.as_deref() {
                    Some("Subject") => subject.push_str(&value),
                    Some("Message") => message.push_str(&value),
                    Some("MessageType") => kind = Some(value),
                    _ => {}
                }
            }
            Event::GeneralRef(reference) if inside => {
                // An entity between text pieces (`&amp;`): resolved into the field it is in.
                let name = reference.xml10_content();
                let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                    .ok()?
                    .into_owned();
                match current.as_deref() {
                    Some("Subject") => subject.push_str(&resolved),
                    Some("Message") => message.push_str(&resolved),
                    _ => {}
                }
            }
            Event::End(tag) => {
                if tag.local_name().as_ref() == "Notification" {
                    break;
                }
                current = None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !inside {
        return None;
    }
    Some(Notification {
        sender: KIND,
        title: subject,
        message,
        level: level(kind.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;
    use jiff::tz::TimeZone;

    fn parse(headers: &[(&str, &str)], body: &str) -> Option<BackupEvent> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Apprise
            .parse(&Inbound::new(&headers, body.as_bytes(), &TimeZone::UTC))
            .map(|r| r.unwrap().remove(0))
    }

    #[test]
    fn json_form_and_xml_carry_the_type_as_the_outcome() {
        let json = parse(
            &[("Content-Type", "application/json")],
            r#"{"version": "1.0", "title": "Backup", "message": "disk full", "attachments": [], "type": "failure"}"#,
        )
        .unwrap();
        assert_eq!(
            (json.kind(), json.status()),
            (EventKind::Run, RunStatus::Failed)
        );
        assert_eq!(json.sender(), KIND);
        assert_eq!(json.error(), Some("disk full"));
        let form = parse(
            &[],
            "version=1.0&title=Backup&message=all+good&type=success",
        )
        .unwrap();
        assert_eq!(form.status(), RunStatus::Success);
        let xml = r#"<?xml version='1.0' encoding='utf-8'?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body>
<Notification xmlns:xsi="https://raw.githubusercontent.com/caronc/apprise/master/apprise/assets/NotifyXML-1.1.xsd">
<Version>1.1</Version>
<Subject>Backup &amp; sync</Subject>
<MessageType>warning</MessageType>
<Message>3 files &lt;skipped&gt;</Message>
</Notification>
</soapenv:Body>
</soapenv:Envelope>"#;
        let xml = parse(&[], xml).unwrap();
        assert_eq!(xml.status(), RunStatus::Warning);
        assert_eq!(xml.error(), Some("3 files <skipped>"));
        assert_eq!(
            xml.raw(),
            Some("Backup & sync\n\n3 files <skipped>".as_bytes())
        );
    }

    #[test]
    fn a_renamed_message_and_a_removed_type_are_read() {
        let e = parse(
            &[],
            r#"{"version": "1.0", "title": "Backup finished", "text": "ok", "attachments": []}"#,
        )
        .unwrap();
        assert_eq!(e.status(), RunStatus::Success, "the words say so");
    }

    #[test]
    fn other_bodies_are_not_apprise() {
        assert!(parse(&[], r#"{"status": "success"}"#).is_none());
        assert!(parse(&[], "status=ok").is_none());
        assert!(parse(&[], "plain words").is_none());
    }
}

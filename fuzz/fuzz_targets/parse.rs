//! Every sender's parser, the ping and push readers, on arbitrary headers and bodies.
#![no_main]

use jiff::tz::TimeZone;
use kopia_webhook::senders::{self, Inbound, healthchecks, uptime_kuma};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line chooses headers (`Name: value` pairs split by `|`), the rest is the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let headers: Vec<(String, String)> = String::from_utf8_lossy(head)
        .split('|')
        .filter_map(|h| h.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let zone = TimeZone::UTC;
    let _ = senders::parse(&Inbound::new(&headers, body, &zone));
    let text = String::from_utf8_lossy(head);
    let _ = healthchecks::Signal::parse(Some(&text));
    let _ = healthchecks::parse_rid(Some(&text));
    let _ = healthchecks::ping_event(healthchecks::Signal::Fail, None, body);
    let _ = uptime_kuma::push_event(&text);
});

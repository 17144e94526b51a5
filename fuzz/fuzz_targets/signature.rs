//! The signature check on arbitrary header values, secrets and bodies.
#![no_main]

use jiff::tz::TimeZone;
use kopia_webhook::senders::Inbound;
use kopia_webhook::signature;
use libfuzzer_sys::fuzz_target;

const HEADERS: [&str; 4] = ["SB-Signature", "X-JVS-Signature", "X-Signature-256", "Authorization"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let (value, body) = rest.split_at(split);
    let headers = vec![(
        HEADERS[selector as usize % HEADERS.len()].to_owned(),
        String::from_utf8_lossy(value).into_owned(),
    )];
    let zone = TimeZone::UTC;
    let _ = signature::verify("fuzzing secret", &Inbound::new(&headers, body, &zone));
});

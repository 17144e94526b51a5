//! Value formats that several senders share: times, Go durations, human sizes, counts.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Reads a point in time written any of the ways backup tools write them:
/// RFC 3339, RFC 1123/2822 (Kopia), Go's `time.Time` default (`2006-01-02 15:04:05 -0700 MST`),
/// or a naive date and time, which is taken to be in `zone`.
pub fn parse_time(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(zoned) = jiff::fmt::rfc2822::parse(text) {
        return Some(zoned.timestamp());
    }
    if let Some(ts) = parse_go_time(text) {
        return Some(ts);
    }
    let naive: DateTime = text.parse().ok()?;
    naive.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// Go's `time.Time.String()`: `2020-01-02 03:04:05.1 +0000 UTC`, maybe followed by a
/// monotonic clock reading (`m=+0.001`) that means nothing outside the process.
fn parse_go_time(text: &str) -> Option<Timestamp> {
    let mut parts = text.split_whitespace();
    let (date, time, offset) = (parts.next()?, parts.next()?, parts.next()?);
    let joined = format!("{date} {time} {offset}");
    jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S%.f %z", &joined)
        .ok()?
        .to_timestamp()
        .ok()
}

/// Go's `time.Duration` text (`1h2m3.5s`, `1.1s`, `250ms`, `0s`) in milliseconds.
pub fn parse_go_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let duration: SignedDuration = text.parse().ok()?;
    if duration.is_negative() {
        return None;
    }
    i64::try_from(duration.as_millis())
        .ok()
        .filter(|ms| *ms <= MAX_DURATION_MS)
}

/// The longest run the add-on believes: a hundred years. Anything longer is a broken field.
const MAX_DURATION_MS: i64 = 100 * 366 * 24 * 3600 * 1000;

/// Milliseconds from a number of seconds (`12.5`), if it is a plausible duration.
pub fn seconds_to_ms(seconds: f64) -> Option<i64> {
    milliseconds(seconds * 1000.0)
}

/// A count of milliseconds (`1500.0`), if it is a plausible duration.
pub fn milliseconds(ms: f64) -> Option<i64> {
    let ms = ms.round();
    (ms.is_finite() && ms >= 0.0 && ms <= MAX_DURATION_MS as f64).then_some(ms as i64)
}

/// A human size (`456 B`, `1.2 GB`, `3.5 GiB`), with an optional Kopia delta such as
/// ` (+56 B)` after it, in bytes. Decimal units are powers of 1000, binary ones of 1024.
pub fn parse_size(text: &str) -> Option<u64> {
    let value = without_delta(text);
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim() {
        "" | "B" | "bytes" => 1.0,
        "kB" | "KB" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "TB" | "T" => 1e12,
        "PB" | "P" => 1e15,
        "EB" | "E" => 1e18,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        "EiB" => 1024f64.powi(6),
        _ => return None,
    };
    let bytes = (number * factor).round();
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A count (`123`, or Kopia's `123 (+23)`).
pub fn parse_count(text: &str) -> Option<u64> {
    without_delta(text).replace([',', '_'], "").parse().ok()
}

fn without_delta(text: &str) -> &str {
    let text = text.trim();
    match text.find(" (") {
        Some(i) => text[..i].trim(),
        None => text,
    }
}

/// The line of a log that says what failed: borg's `Repository /mnt/x does not exist.`,
/// not the log's first line (`Pinging Healthchecks start`). Lines naming a cause ("does not
/// exist", "permission denied") beat lines that only say something failed; among equals
/// the first wins, since a cause comes before its consequences. Falls back to the first
/// non-empty line.
pub fn failure_line(log: &str) -> Option<String> {
    const CAUSES: &[&str] = &[
        "does not exist",
        "not found",
        "no such file",
        "permission denied",
        "access denied",
        "no space left",
        "disk full",
        "connection refused",
        "timed out",
        "unreachable",
        "cannot",
        "can't",
        "could not",
        "unable to",
        "authentication failed",
        "is not a valid repository",
        "locked",
    ];
    const FAILURES: &[&str] = &[
        "error",
        "failed",
        "failure",
        "fatal",
        "exit status",
        "exception",
    ];
    let rank = |line: &str| {
        let lower = line.to_lowercase();
        if CAUSES.iter().any(|c| lower.contains(c)) {
            2
        } else if FAILURES.iter().any(|f| lower.contains(f)) {
            1
        } else {
            0
        }
    };
    let mut best: Option<(u8, &str)> = None;
    for line in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let r = rank(line);
        if r > 0 && best.is_none_or(|(b, _)| r > b) {
            best = Some((r, line));
        }
    }
    match best {
        Some((_, line)) => Some(line.chars().take(300).collect()),
        None => super::first_line(log),
    }
}

/// The text at a JSON path (`["backup", "name"]`); numbers are given as text too.
pub fn json_text(value: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    match current {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-negative whole number at a JSON path, given as a number or as text.
pub fn json_count(value: &serde_json::Value, path: &[&str]) -> Option<u64> {
    let text = json_text(value, path)?;
    text.parse::<u64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| *f >= 0.0 && f.is_finite())
            .map(|f| f as u64)
    })
}

/// Hex SHA-256 of a body, shortened: a dedup key for senders that retry identical bodies.
pub fn body_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(body)[..16])
}

/// The boundary of a `multipart/form-data` content type (quoted or not).
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    let (kind, parameters) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parameters.split(';').find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// The text fields of a `multipart/form-data` body (RFC 7578): each part's name from its
/// `Content-Disposition`, its content as UTF-8 (lossy). File parts are skipped; a body that
/// does not follow the format gives the fields read before the fault.
pub fn multipart_text_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let delimiter = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    let mut fields = Vec::new();
    let Some(first) = finder.find(body) else {
        return fields;
    };
    let mut rest = &body[first + delimiter.len()..];
    // After each delimiter: `--` ends the body, else CRLF and a part up to the next one.
    while let Some(part_and_more) = rest.strip_prefix(b"\r\n") {
        let Some(end) = finder.find(part_and_more) else {
            break;
        };
        // The part ends with the CRLF that belongs to the next delimiter.
        let part = part_and_more[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&part_and_more[..end]);
        rest = &part_and_more[end + delimiter.len()..];
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let Ok(httparse::Status::Complete((head, headers))) =
            httparse::parse_headers(part, &mut headers)
        else {
            break;
        };
        let disposition = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-disposition"))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .unwrap_or_default();
        let parameter = |wanted: &str| {
            disposition.split(';').skip(1).find_map(|p| {
                let (name, value) = p.split_once('=')?;
                (name.trim() == wanted).then(|| value.trim().trim_matches('"').to_owned())
            })
        };
        if let (Some(name), None) = (parameter("name"), parameter("filename")) {
            fields.push((name, String::from_utf8_lossy(&part[head..]).into_owned()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `curl -F "title=my title" -F "message=my message" -F "priority=5"` sends
    /// (Gotify's own example), with a file part that is skipped.
    #[test]
    fn multipart_text_fields_as_curl_sends_them() {
        let content_type = "multipart/form-data; boundary=------------------------d74496d66958873e";
        let boundary = multipart_boundary(content_type).unwrap();
        let body = "--------------------------d74496d66958873e\r\n\
                    Content-Disposition: form-data; name=\"title\"\r\n\r\n\
                    my title\r\n\
                    --------------------------d74496d66958873e\r\n\
                    Content-Disposition: form-data; name=\"message\"\r\n\r\n\
                    line one\r\nline two\r\n\
                    --------------------------d74496d66958873e\r\n\
                    Content-Disposition: form-data; name=\"log\"; filename=\"a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\n\
                    file content\r\n\
                    --------------------------d74496d66958873e\r\n\
                    Content-Disposition: form-data; name=\"priority\"\r\n\r\n\
                    5\r\n\
                    --------------------------d74496d66958873e--\r\n";
        assert_eq!(
            multipart_text_fields(body.as_bytes(), &boundary),
            vec![
                ("title".to_owned(), "my title".to_owned()),
                ("message".to_owned(), "line one\r\nline two".to_owned()),
                ("priority".to_owned(), "5".to_owned()),
            ]
        );
        assert_eq!(
            multipart_boundary("application/x-www-form-urlencoded"),
            None
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        // Cut off, or not multipart at all: what was read, nothing invented.
        assert_eq!(
            multipart_text_fields(&body.as_bytes()[..60], &boundary),
            vec![]
        );
        assert_eq!(multipart_text_fields(b"title=x", &boundary), vec![]);
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn times_in_every_format_senders_use() {
        let utc = TimeZone::UTC;
        let want = ts("2020-01-02T03:04:05Z");
        assert_eq!(
            parse_time("Thu, 02 Jan 2020 03:04:05 +0000", &utc),
            Some(want)
        );
        assert_eq!(
            parse_time("Wed, 01 Jan 2020 19:04:05 PST", &utc),
            Some(want)
        );
        assert_eq!(parse_time("2020-01-02T04:04:05+01:00", &utc), Some(want));
        assert_eq!(
            parse_time("2020-01-02 03:04:05 +0000 UTC", &utc),
            Some(want)
        );
        assert_eq!(
            parse_time("2020-01-02 03:04:05.5 +0000 UTC m=+0.000123", &utc),
            Some(ts("2020-01-02T03:04:05.5Z"))
        );
        assert_eq!(parse_time("2020-01-02 03:04:05", &utc), Some(want));
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(parse_time("2020-01-02 04:04:05", &berlin), Some(want));
        assert_eq!(parse_time("yesterday", &utc), None);
        assert_eq!(parse_time("", &utc), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_ms("1.1s"), Some(1100));
        assert_eq!(parse_go_duration_ms("0s"), Some(0));
        assert_eq!(parse_go_duration_ms("1h2m3.5s"), Some(3_723_500));
        assert_eq!(parse_go_duration_ms("250ms"), Some(250));
        assert_eq!(parse_go_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_go_duration_ms("-5s"), None);
        assert_eq!(parse_go_duration_ms("soon"), None);
    }

    #[test]
    fn the_line_that_says_what_failed() {
        let log = "Pinging Healthchecks start\n\
                   /etc/borgmatic/config.yaml: Creating archive\n\
                   Repository /mnt/backup/borg does not exist.\n\
                   Command 'borg create' returned non-zero exit status 2.\n\
                   /etc/borgmatic/config.yaml: An error occurred\n";
        assert_eq!(
            failure_line(log).as_deref(),
            Some("Repository /mnt/backup/borg does not exist.")
        );
        assert_eq!(
            failure_line("all fine\nstill fine").as_deref(),
            Some("all fine")
        );
        assert_eq!(failure_line("").as_deref(), None);
    }

    #[test]
    fn absurd_durations_are_refused_not_wrapped() {
        assert_eq!(seconds_to_ms(12.5), Some(12_500));
        assert_eq!(seconds_to_ms(1e300), None);
        assert_eq!(seconds_to_ms(f64::NAN), None);
        assert_eq!(seconds_to_ms(-1.0), None);
        assert_eq!(milliseconds(9.3e18), None);
    }

    #[test]
    fn sizes_in_decimal_and_binary_units_with_deltas() {
        assert_eq!(parse_size("456 B (+56 B)"), Some(456));
        assert_eq!(parse_size("456 B (-44 B)"), Some(456));
        assert_eq!(parse_size("0 B"), Some(0));
        assert_eq!(parse_size("1.2 GB"), Some(1_200_000_000));
        assert_eq!(parse_size("12.3 kB"), Some(12_300));
        assert_eq!(parse_size("1.5 KiB"), Some(1536));
        assert_eq!(parse_size("2 GiB (+1 GiB)"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("456"), Some(456));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("1 XB"), None);
        assert_eq!(parse_size("99999999999999 EB"), None);
    }

    #[test]
    fn counts_with_deltas() {
        assert_eq!(parse_count("123 (+23)"), Some(123));
        assert_eq!(parse_count("33"), Some(33));
        assert_eq!(parse_count("1,234"), Some(1234));
        assert_eq!(parse_count("-1"), None);
    }
}

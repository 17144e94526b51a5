use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};
use serde_json::{Value, json};

use super::ParseError;

/// When a monitor's runs are expected: at a fixed period after the last one, or at the
/// times a cron expression names in a time zone (Healthchecks' two kinds of schedules).
#[derive(Clone)]
pub enum Schedule {
    Every(SignedDuration),
    Cron {
        expression: String,
        cron: Box<Cron>,
        zone: TimeZone,
        zone_name: String,
    },
}

/// How long after the expected time a run may still arrive before the monitor is
/// overdue; also how long a started run may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace(SignedDuration);

/// Parses `90s`, `45m`, `12h`, `1d`, `1w`, `1h30m` (days are 24 hours).
pub fn parse_period(text: &str, what: &str) -> Result<SignedDuration, ParseError> {
    let invalid = || {
        ParseError::new(format!(
            "{what} {text:?} is not a duration: use e.g. 90s, 30m, 12h or 1d"
        ))
    };
    let span: Span = text.trim().parse().map_err(|_| invalid())?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| invalid())?;
    if duration < SignedDuration::from_secs(1) {
        return Err(ParseError::new(format!("{what} must be at least 1 second")));
    }
    if duration > SignedDuration::from_hours(24 * 366) {
        return Err(ParseError::new(format!("{what} must be at most a year")));
    }
    Ok(duration)
}

/// `off` or nothing: `None`; else a period as [`parse_period`] reads it. For alerts that are
/// off unless asked for (`not_verified_after`).
pub fn parse_period_or_off(text: &str, what: &str) -> Result<Option<SignedDuration>, ParseError> {
    match text.trim() {
        "" | "off" => Ok(None),
        period => parse_period(period, what).map(Some),
    }
}

/// `1d`, `12h`, `1h 30m`, `90s`: the shortest friendly spelling.
pub fn format_period(duration: SignedDuration) -> String {
    let mut secs = duration.as_secs();
    let mut out = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if out.is_empty() {
        "0s".into()
    } else {
        out.join(" ")
    }
}

/// [`format_period`] of a worked-out span, rounded as people say it: to the hour from a
/// day up, to the minute from an hour up (`2d 10h`, not `2d 9h 39m 57s`).
pub fn format_span(duration: SignedDuration) -> String {
    let secs = duration.as_secs();
    let step = match secs {
        86_400.. => 3_600,
        3_600.. => 60,
        _ => 1,
    };
    let rounded = (secs + step / 2) / step * step;
    format_period(SignedDuration::from_secs(rounded))
}

impl Grace {
    /// Healthchecks' default.
    pub const DEFAULT: Grace = Grace(SignedDuration::from_hours(1));

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        parse_period(text, "grace").map(Self)
    }

    pub fn from_secs(secs: i64) -> Result<Self, ParseError> {
        if secs < 1 {
            return Err(ParseError::new("grace must be at least 1 second"));
        }
        Ok(Self(SignedDuration::from_secs(secs)))
    }

    pub fn duration(self) -> SignedDuration {
        self.0
    }

    pub fn as_secs(self) -> i64 {
        self.0.as_secs()
    }
}

impl fmt::Display for Grace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_period(self.0))
    }
}

impl Schedule {
    /// `{"every": "1d"}` or `{"cron": "0 3 * * *", "tz": "Europe/Berlin"}` (`tz` defaults to
    /// `default_zone`).
    pub fn from_json(value: &Value, default_zone: &str) -> Result<Self, ParseError> {
        let object = value.as_object().ok_or_else(|| {
            ParseError::new(r#"schedule must be {"every": "1d"} or {"cron": "0 3 * * *", "tz": "Europe/Berlin"}"#)
        })?;
        match (object.get("every"), object.get("cron")) {
            (Some(every), None) => {
                let text = every.as_str().ok_or_else(|| {
                    ParseError::new("schedule.every must be a string such as \"1d\"")
                })?;
                Ok(Self::Every(parse_period(text, "schedule.every")?))
            }
            (None, Some(cron)) => {
                let expression = cron.as_str().ok_or_else(|| {
                    ParseError::new("schedule.cron must be a string such as \"0 3 * * *\"")
                })?;
                let zone = match object.get("tz") {
                    None | Some(Value::Null) => default_zone,
                    Some(Value::String(tz)) => tz.as_str(),
                    Some(_) => {
                        return Err(ParseError::new(
                            "schedule.tz must be a string such as \"Europe/Berlin\"",
                        ));
                    }
                };
                Self::cron(expression, zone)
            }
            _ => Err(ParseError::new(
                r#"schedule needs exactly one of "every" (e.g. "1d") or "cron" (e.g. "0 3 * * *")"#,
            )),
        }
    }

    /// The short form used in the add-on options and the panel's form: a period (`1d`,
    /// `12h`) or a five-field cron expression, which runs in `zone_name`.
    pub fn from_text(text: &str, zone_name: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        if text.split_whitespace().count() >= 3 {
            Self::cron(text, zone_name)
        } else {
            Ok(Self::Every(parse_period(text, "schedule")?))
        }
    }

    /// A cron expression of exactly five fields (minute hour day month weekday).
    pub fn cron(expression: &str, zone_name: &str) -> Result<Self, ParseError> {
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        if expression.split(' ').count() != 5 {
            return Err(ParseError::new(format!(
                "schedule.cron {expression:?} must have five fields: minute hour day month weekday"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(&expression)
            .map_err(|e| {
                ParseError::new(format!("schedule.cron {expression:?} is not valid: {e}"))
            })?;
        let zone = TimeZone::get(zone_name).map_err(|_| {
            ParseError::new(format!(
                "schedule.tz {zone_name:?} is not an IANA time zone such as Europe/Berlin"
            ))
        })?;
        Ok(Self::Cron {
            expression,
            cron: Box::new(cron),
            zone,
            zone_name: zone_name.to_owned(),
        })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Self::Every(d) => json!({ "every": format_period(*d) }),
            Self::Cron {
                expression,
                zone_name,
                ..
            } => json!({ "cron": expression, "tz": zone_name }),
        }
    }

    /// How long between two runs around `at`: the period, or the gap between the next two
    /// times a cron expression names.
    pub fn period_after(&self, at: Timestamp) -> Option<SignedDuration> {
        match self {
            Self::Every(period) => Some(*period),
            Self::Cron { .. } => {
                let first = self.next_after(at)?;
                let second = self.next_after(first)?;
                Some(second.duration_since(first))
            }
        }
    }

    /// When the next run is due after one at `last`.
    pub fn next_after(&self, last: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(period) => last.checked_add(*period).ok(),
            Self::Cron { cron, zone, .. } => cron
                .find_next_occurrence(&last.to_zoned(zone.clone()), false)
                .ok()
                .map(|z| z.timestamp()),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every(d) => write!(f, "every {}", format_period(*d)),
            Self::Cron {
                expression,
                zone_name,
                ..
            } => write!(f, "cron {expression} ({zone_name})"),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn spans_are_rounded_as_people_say_them() {
        let span = |secs| format_span(SignedDuration::from_secs(secs));
        assert_eq!(span(2 * 86_400 + 9 * 3_600 + 39 * 60 + 57), "2d 10h");
        assert_eq!(span(3 * 3_600 + 20 * 60 + 31), "3h 21m");
        assert_eq!(span(95), "1m 35s");
    }

    #[test]
    fn periods_in_friendly_units() {
        assert_eq!(
            parse_period("90s", "x").unwrap(),
            SignedDuration::from_secs(90)
        );
        assert_eq!(
            parse_period("12h", "x").unwrap(),
            SignedDuration::from_hours(12)
        );
        assert_eq!(
            parse_period("1d", "x").unwrap(),
            SignedDuration::from_hours(24)
        );
        assert_eq!(
            parse_period("1w", "x").unwrap(),
            SignedDuration::from_hours(168)
        );
        assert_eq!(
            parse_period("1h30m", "x").unwrap(),
            SignedDuration::from_mins(90)
        );
        assert_eq!(
            parse_period("1s", "x").unwrap(),
            SignedDuration::from_secs(1)
        );
        assert!(parse_period("0s", "x").is_err());
        assert!(parse_period("soon", "x").unwrap_err().0.contains("90s"));
        assert!(parse_period("2y", "x").is_err());
        assert_eq!(parse_period_or_off(" off ", "x").unwrap(), None);
        assert_eq!(parse_period_or_off("", "x").unwrap(), None);
        assert_eq!(
            parse_period_or_off("7d", "x").unwrap(),
            Some(SignedDuration::from_hours(168))
        );
        assert!(parse_period_or_off("weekly", "x").is_err());
        assert_eq!(
            format_period(SignedDuration::from_secs(90_061)),
            "1d 1h 1m 1s"
        );
        assert_eq!(
            parse_period(&format_period(SignedDuration::from_secs(90_061)), "x")
                .unwrap()
                .as_secs(),
            90_061
        );
    }

    #[test]
    fn every_is_a_period_after_the_last_run() {
        let s = Schedule::from_json(&json!({"every": "1d"}), "UTC").unwrap();
        assert_eq!(
            s.next_after(ts("2026-01-01T03:00:00Z")),
            Some(ts("2026-01-02T03:00:00Z"))
        );
        assert_eq!(s.to_json(), json!({"every": "1d"}));
    }

    #[test]
    fn cron_runs_in_its_time_zone() {
        let s = Schedule::from_json(&json!({"cron": "0 3 * * *", "tz": "Europe/Berlin"}), "UTC")
            .unwrap();
        // 03:00 in Berlin is 02:00 UTC in winter.
        assert_eq!(
            s.next_after(ts("2026-01-01T12:00:00Z")),
            Some(ts("2026-01-02T02:00:00Z"))
        );
        let default_zone = Schedule::from_json(&json!({"cron": "30 4 * * 1"}), "UTC").unwrap();
        assert_eq!(
            default_zone.to_json(),
            json!({"cron": "30 4 * * 1", "tz": "UTC"})
        );
    }

    #[test]
    fn the_short_form_is_a_period_or_a_cron_expression() {
        assert_eq!(
            Schedule::from_text("1d", "UTC").unwrap().to_json(),
            json!({"every": "1d"})
        );
        assert_eq!(
            Schedule::from_text(" 0 3 * * * ", "Europe/Berlin")
                .unwrap()
                .to_json(),
            json!({"cron": "0 3 * * *", "tz": "Europe/Berlin"})
        );
        assert!(
            Schedule::from_text("0 3 *", "UTC")
                .unwrap_err()
                .0
                .contains("five fields")
        );
    }

    #[test]
    fn bad_schedules_say_what_to_write() {
        for (value, hint) in [
            (json!("daily"), "every"),
            (json!({"every": "1d", "cron": "* * * * *"}), "exactly one"),
            (json!({"cron": "0 3 * *"}), "five fields"),
            (json!({"cron": "0 3 * * * *"}), "five fields"),
            (json!({"cron": "99 3 * * *"}), "not valid"),
            (json!({"cron": "0 3 * * *", "tz": "Mars/Olympus"}), "IANA"),
            (json!({"every": 5}), "string"),
        ] {
            let err = Schedule::from_json(&value, "UTC").unwrap_err();
            assert!(err.0.contains(hint), "{value} -> {err}");
        }
    }
}

//! Pauses and maintenance windows: while one lasts, a monitor is `paused` — no overdue, no
//! problems, no notifications — and it resumes by itself.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{ParseError, Schedule, format_period, parse_period};

/// A weekly (or any cron-shaped) window: it opens at each time of `start` and lasts `length`.
#[derive(Debug, Clone)]
pub struct MaintenanceWindow {
    start: Schedule,
    length: SignedDuration,
}

impl MaintenanceWindow {
    /// `cron` in `zone` (`0 2 * * 6`, Saturdays at 02:00), lasting `length` (`3h`).
    pub fn parse(cron: &str, zone: &str, length: &str) -> Result<Self, ParseError> {
        let start = Schedule::cron(cron, zone)
            .map_err(|e| ParseError::new(format!("maintenance window: {e}")))?;
        let length = parse_period(length, "the maintenance window's length")?;
        if length > SignedDuration::from_hours(24 * 7) {
            return Err(ParseError::new(
                "a maintenance window lasts at most a week; pause the monitor instead",
            ));
        }
        Ok(Self { start, length })
    }

    /// When the window that is open at `now` closes; `None` when none is open.
    pub fn open_until(&self, now: Timestamp) -> Option<Timestamp> {
        // A window is open when one of its starts lies in (now - length, now].
        let opened = self.start.next_after(now.checked_sub(self.length).ok()?)?;
        (opened <= now).then(|| opened.checked_add(self.length).ok())?
    }

    /// As stored and as the API shows it.
    pub fn to_json(&self) -> Value {
        let mut value = self.start.to_json();
        value["for"] = json!(format_period(self.length));
        value
    }

    pub fn from_json(value: &Value) -> Result<Self, ParseError> {
        let text = |name: &str| value[name].as_str().unwrap_or_default();
        Self::parse(
            text("cron"),
            value["tz"].as_str().unwrap_or("UTC"),
            text("for"),
        )
    }
}

/// A monitor's pauses: until a time, and a recurring window.
#[derive(Debug, Clone, Default)]
pub struct Pause {
    pub until: Option<Timestamp>,
    pub window: Option<MaintenanceWindow>,
}

impl Pause {
    /// When the pause that holds at `now` ends (the later of the two when both hold);
    /// `None`: not paused.
    pub fn paused_until(&self, now: Timestamp) -> Option<Timestamp> {
        let until = self.until.filter(|u| *u > now);
        let window = self.window.as_ref().and_then(|w| w.open_until(now));
        until.into_iter().chain(window).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_weekly_window_is_open_from_its_start_for_its_length() {
        // Saturdays 02:00–05:00 in Berlin (UTC+1 in December).
        let window = MaintenanceWindow::parse("0 2 * * 6", "Europe/Berlin", "3h").unwrap();
        assert_eq!(window.open_until(utc("2026-12-05T00:59:00Z")), None);
        assert_eq!(
            window.open_until(utc("2026-12-05T01:00:00Z")),
            Some(utc("2026-12-05T04:00:00Z"))
        );
        assert_eq!(
            window.open_until(utc("2026-12-05T03:59:59Z")),
            Some(utc("2026-12-05T04:00:00Z"))
        );
        assert_eq!(window.open_until(utc("2026-12-05T04:00:00Z")), None);
        let again = MaintenanceWindow::from_json(&window.to_json()).unwrap();
        assert_eq!(again.to_json(), window.to_json());
        assert_eq!(window.to_json()["for"], "3h");
    }

    #[test]
    fn a_pause_holds_until_its_time_and_the_later_end_wins() {
        let now = utc("2026-12-05T01:30:00Z");
        let pause = Pause {
            until: Some(utc("2026-12-05T02:00:00Z")),
            window: Some(MaintenanceWindow::parse("0 2 * * 6", "Europe/Berlin", "3h").unwrap()),
        };
        assert_eq!(pause.paused_until(now), Some(utc("2026-12-05T04:00:00Z")));
        let over = Pause {
            until: Some(utc("2026-12-05T01:00:00Z")),
            window: None,
        };
        assert_eq!(over.paused_until(now), None);
        assert!(
            MaintenanceWindow::parse("0 2 * * 6", "UTC", "8d").is_err(),
            "longer than a week"
        );
    }
}

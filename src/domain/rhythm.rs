//! A schedule learned from a monitor's history: "daily around 03:00", "every 6h".

use std::f64::consts::TAU;
use std::fmt;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{Grace, Schedule, format_period};

/// When one run began (its start, or its arrival when the tool gave no start) and when its
/// report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTime {
    pub began: Timestamp,
    pub arrived: Timestamp,
}

/// The regular pattern a history shows, and the grace its late runs needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rhythm {
    pattern: Pattern,
    grace: Grace,
    /// The runs keep UTC's time of day, not the local one: a job on a machine that runs in
    /// UTC stays at its UTC time when the local clock changes for summer time.
    utc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    /// At this minute of the day, on these weekdays (bit 0 = Sunday, as cron counts).
    Daily { minute: i64, weekdays: u8 },
    /// Every week on this day (0 = Sunday, as cron counts) at this minute.
    Weekly { weekday: i64, minute: i64 },
    /// A fixed period after the last run.
    Every(SignedDuration),
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// Periods people schedule backups at; a history must match one of them.
const PERIODS: [i64; 10] = [
    HOUR,
    2 * HOUR,
    3 * HOUR,
    4 * HOUR,
    6 * HOUR,
    8 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    WEEK,
];
/// Reports within this long of each other are one job (Kopia reports each path apart).
const SAME_JOB: i64 = 15 * MINUTE;

impl Rhythm {
    /// Fewer runs than this teach nothing.
    pub const MIN_RUNS: usize = 5;

    /// The rhythm of `runs` (any order), in `zone`'s local time; `None` for fewer than
    /// [`Rhythm::MIN_RUNS`] jobs, or a history with no regular period.
    pub fn learn(runs: &[RunTime], zone: &TimeZone) -> Option<Self> {
        let jobs = jobs_of(runs);
        if jobs.len() < Self::MIN_RUNS {
            return None;
        }
        let intervals: Vec<i64> = jobs
            .windows(2)
            .map(|w| w[1].began.duration_since(w[0].began).as_secs())
            .collect();
        let mut sorted = intervals.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2] as f64;
        let period = *PERIODS
            .iter()
            .min_by(|a, b| {
                let off = |p: i64| (median / p as f64).ln().abs();
                off(**a).total_cmp(&off(**b))
            })
            .expect("PERIODS is not empty");
        let close = |interval: i64| ((interval - period).abs() as f64) <= period as f64 * 0.15;
        if !close(median as i64) {
            return None;
        }
        // Most intervals must be the period: a skipped day or an extra manual run is fine,
        // a history that wanders is not.
        let regular = intervals.iter().filter(|i| close(**i)).count();
        if regular * 5 < intervals.len() * 4 {
            return None;
        }
        if period == DAY || period == WEEK {
            // The zone whose clock the runs keep best: local, or UTC (a server's cron).
            let local = Self::at_fixed_times(&jobs, period, zone, false);
            let utc = Self::at_fixed_times(&jobs, period, &TimeZone::UTC, true);
            let best = match (local, utc) {
                (Some((local, a)), Some((utc, b))) => Some(if b < a { utc } else { local }),
                (one, other) => one.or(other).map(|(rhythm, _)| rhythm),
            };
            if let Some(rhythm) = best {
                return Some(rhythm);
            }
        }
        // A fixed period after each run: grace covers the longest late arrival seen.
        let late = jobs
            .windows(2)
            .map(|w| w[1].arrived.duration_since(w[0].arrived).as_secs() - period)
            .filter(|&late| late <= period / 2)
            .max()
            .unwrap_or(0)
            .max(0);
        Some(Self {
            pattern: Pattern::Every(SignedDuration::from_secs(period)),
            grace: grace_for(late, period),
            utc: false,
        })
    }

    /// Daily or weekly runs at about the same time of `zone`'s day: a cron schedule at the
    /// earliest start seen (rounded down to 5 minutes), so that no run arrives before its
    /// slot; daily runs on the weekdays they keep. Also how far apart the starts are in
    /// that zone (the smaller, the better the zone fits).
    fn at_fixed_times(
        jobs: &[RunTime],
        period: i64,
        zone: &TimeZone,
        utc: bool,
    ) -> Option<(Self, i64)> {
        let phase = |at: Timestamp| {
            let local = at.to_zoned(zone.clone());
            let time = local.time();
            let of_day = i64::from(time.hour()) * HOUR
                + i64::from(time.minute()) * MINUTE
                + i64::from(time.second());
            if period == WEEK {
                i64::from(local.weekday().to_monday_zero_offset()) * DAY + of_day
            } else {
                of_day
            }
        };
        let angle = |p: i64| p as f64 / period as f64 * TAU;
        let (sin, cos) = jobs.iter().fold((0.0, 0.0), |(s, c), job| {
            let a = angle(phase(job.began));
            (s + a.sin(), c + a.cos())
        });
        let mean = (sin.atan2(cos) / TAU * period as f64).rem_euclid(period as f64) as i64;
        // Offsets from the mean in (-period/2, period/2].
        let offset = |p: i64| {
            let d = (p - mean).rem_euclid(period);
            if d > period / 2 { d - period } else { d }
        };
        let offsets: Vec<i64> = jobs.iter().map(|j| offset(phase(j.began))).collect();
        let (first, last) = (*offsets.iter().min()?, *offsets.iter().max()?);
        // Runs spread over more than a quarter of the period are not "at a time".
        if last - first > period / 4 {
            return None;
        }
        let slot = (mean + first).rem_euclid(period) / (5 * MINUTE) * (5 * MINUTE);
        let late = jobs
            .iter()
            .map(|j| (phase(j.arrived) - slot).rem_euclid(period))
            .filter(|&late| late <= period / 2)
            .max()
            .unwrap_or(0);
        let pattern = if period == WEEK {
            Pattern::Weekly {
                // Monday-zero to cron's Sunday-zero.
                weekday: (slot / DAY + 1) % 7,
                minute: slot % DAY / MINUTE,
            }
        } else {
            Pattern::Daily {
                minute: slot / MINUTE,
                weekdays: weekdays_kept(jobs, &offsets, zone),
            }
        };
        let rhythm = Self {
            pattern,
            grace: grace_for(late, period),
            utc,
        };
        Some((rhythm, last - first))
    }

    /// The schedule to apply: cron in `local_zone` (or UTC, where the runs keep UTC's
    /// time) for daily and weekly rhythms.
    pub fn schedule(&self, local_zone: &str) -> Schedule {
        let zone_name = if self.utc { "UTC" } else { local_zone };
        let cron = |expression: String| {
            Schedule::cron(&expression, zone_name)
                .unwrap_or_else(|_| Schedule::Every(self.period()))
        };
        match self.pattern {
            Pattern::Daily { minute, weekdays } => cron(format!(
                "{} {} * * {}",
                minute % 60,
                minute / 60,
                weekday_field(weekdays)
            )),
            Pattern::Weekly { weekday, minute } => {
                cron(format!("{} {} * * {weekday}", minute % 60, minute / 60))
            }
            Pattern::Every(period) => Schedule::Every(period),
        }
    }

    pub fn grace(&self) -> Grace {
        self.grace
    }

    /// How often the job runs.
    pub fn period(&self) -> SignedDuration {
        match self.pattern {
            Pattern::Daily { .. } => SignedDuration::from_secs(DAY),
            Pattern::Weekly { .. } => SignedDuration::from_secs(WEEK),
            Pattern::Every(period) => period,
        }
    }
}

/// The latest arrival seen plus a quarter hour, rounded up to quarter hours; at least an hour for daily
/// and longer periods (Healthchecks' default), at most half the period.
fn grace_for(late: i64, period: i64) -> Grace {
    let step = 15 * MINUTE;
    let rounded = (late + step + step - 1) / step * step;
    let floor = if period >= DAY { HOUR } else { step };
    let secs = rounded.max(floor).min(period / 2);
    Grace::from_secs(secs).unwrap_or(Grace::DEFAULT)
}

/// Every day of the week, as a bit set (bit 0 = Sunday).
const ALL_WEEKDAYS: u8 = 0b111_1111;

/// The weekdays a daily job runs on: those its slots fell on, once the history is two
/// weeks long (so a weekday without a run had two chances); every day before that.
fn weekdays_kept(jobs: &[RunTime], offsets: &[i64], zone: &TimeZone) -> u8 {
    let (Some(first), Some(last)) = (jobs.first(), jobs.last()) else {
        return ALL_WEEKDAYS;
    };
    if last.began.duration_since(first.began).as_secs() < 13 * DAY {
        return ALL_WEEKDAYS;
    }
    jobs.iter().zip(offsets).fold(0, |days, (job, offset)| {
        // The day of the slot the run belongs to (a run just after midnight is the
        // previous evening's when its slot is before midnight).
        let slot = job.began - SignedDuration::from_secs(*offset);
        days | 1
            << slot
                .to_zoned(zone.clone())
                .weekday()
                .to_sunday_zero_offset()
    })
}

/// The weekday field of a cron expression: `*`, or ranges such as `1-5`.
fn weekday_field(days: u8) -> String {
    if days & ALL_WEEKDAYS == ALL_WEEKDAYS {
        return "*".to_owned();
    }
    let mut ranges: Vec<String> = Vec::new();
    let mut day = 0;
    while day < 7 {
        if days & (1 << day) == 0 {
            day += 1;
            continue;
        }
        let start = day;
        while day + 1 < 7 && days & (1 << (day + 1)) != 0 {
            day += 1;
        }
        ranges.push(if start == day {
            start.to_string()
        } else {
            format!("{start}-{day}")
        });
        day += 1;
    }
    ranges.join(",")
}

/// Runs grouped into jobs, oldest first: reports within [`SAME_JOB`] of a job's first
/// report belong to it.
fn jobs_of(runs: &[RunTime]) -> Vec<RunTime> {
    let mut runs = runs.to_vec();
    runs.sort_by_key(|r| r.arrived);
    let mut jobs: Vec<(Timestamp, RunTime)> = Vec::new();
    for run in runs {
        match jobs.last_mut() {
            Some((first, job)) if run.arrived.duration_since(*first).as_secs() <= SAME_JOB => {
                job.began = job.began.min(run.began);
                job.arrived = job.arrived.max(run.arrived);
            }
            _ => jobs.push((run.arrived, run)),
        }
    }
    jobs.into_iter().map(|(_, job)| job).collect()
}

impl fmt::Display for Rhythm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAYS: [&str; 7] = [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ];
        let zone = if self.utc { " UTC" } else { "" };
        match self.pattern {
            Pattern::Daily { minute, weekdays } => {
                write!(
                    f,
                    "daily around {:02}:{:02}{zone}",
                    minute / 60,
                    minute % 60
                )?;
                if weekdays & ALL_WEEKDAYS != ALL_WEEKDAYS {
                    let days: Vec<&str> = (0..7)
                        .filter(|day| weekdays & (1 << day) != 0)
                        .map(|day| &DAYS[day][..3])
                        .collect();
                    write!(f, " ({})", days.join(", "))?;
                }
            }
            Pattern::Weekly { weekday, minute } => write!(
                f,
                "weekly on {} around {:02}:{:02}{zone}",
                DAYS[weekday as usize],
                minute / 60,
                minute % 60
            )?,
            Pattern::Every(period) => write!(f, "every {}", format_period(period))?,
        }
        write!(f, ", grace {}", self.grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn local(text: &str) -> Timestamp {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", text)
            .unwrap()
            .to_zoned(zone())
            .unwrap()
            .timestamp()
    }

    fn run(began: Timestamp, took_mins: i64) -> RunTime {
        RunTime {
            began,
            arrived: began + SignedDuration::from_mins(took_mins),
        }
    }

    #[test]
    fn a_daily_job_is_daily_around_its_earliest_start() {
        // 03:00 every night, the report 10 to 40 minutes later, across the end of summer time.
        let runs: Vec<RunTime> = (20..30)
            .map(|day| {
                run(
                    local(&format!("2026-10-{day} 03:0{}", day % 3)),
                    10 + day % 4 * 10,
                )
            })
            .collect();
        let rhythm = Rhythm::learn(&runs, &zone()).unwrap();
        assert_eq!(rhythm.to_string(), "daily around 03:00, grace 1h");
        assert_eq!(
            rhythm.schedule("Europe/Berlin").to_json(),
            serde_json::json!({"cron": "0 3 * * *", "tz": "Europe/Berlin"})
        );
    }

    #[test]
    fn a_job_that_reports_each_path_apart_is_one_job_per_night() {
        let runs: Vec<RunTime> = (1..8)
            .flat_map(|day| {
                (0..4).map(move |path| run(local(&format!("2026-11-0{day} 01:3{path}")), 2))
            })
            .collect();
        assert_eq!(
            Rhythm::learn(&runs, &zone()).unwrap().to_string(),
            "daily around 01:30, grace 1h"
        );
    }

    #[test]
    fn a_six_hourly_job_is_every_six_hours() {
        let start = local("2026-11-01 00:00");
        let runs: Vec<RunTime> = (0..12)
            .map(|i| {
                run(
                    start
                        + SignedDuration::from_hours(6 * i)
                        + SignedDuration::from_mins(i % 3 * 4),
                    5,
                )
            })
            .collect();
        let rhythm = Rhythm::learn(&runs, &zone()).unwrap();
        assert_eq!(rhythm.to_string(), "every 6h, grace 30m");
        assert_eq!(rhythm.period(), SignedDuration::from_hours(6));
    }

    #[test]
    fn a_weekly_job_with_jitter_is_weekly_on_its_day() {
        // Sundays around 02:00, give or take 40 minutes.
        let runs: Vec<RunTime> = [
            "2026-10-04 02:10",
            "2026-10-11 01:25",
            "2026-10-18 02:40",
            "2026-10-25 01:50",
            "2026-11-01 02:05",
            "2026-11-08 01:20",
            "2026-11-15 02:30",
        ]
        .iter()
        .map(|t| run(local(t), 30))
        .collect();
        let rhythm = Rhythm::learn(&runs, &zone()).unwrap();
        assert_eq!(
            rhythm.to_string(),
            "weekly on Sunday around 01:20, grace 2h 15m"
        );
        assert_eq!(
            rhythm.schedule("Europe/Berlin").to_json(),
            serde_json::json!({"cron": "20 1 * * 0", "tz": "Europe/Berlin"})
        );
    }

    #[test]
    fn an_irregular_history_teaches_nothing() {
        let start = local("2026-11-01 00:00");
        let hours = [0, 5, 29, 30, 77, 80, 150, 151, 200];
        let runs: Vec<RunTime> = hours
            .iter()
            .map(|h| run(start + SignedDuration::from_hours(*h), 5))
            .collect();
        assert_eq!(Rhythm::learn(&runs, &zone()), None);
        // Four runs are too few, however regular.
        let few: Vec<RunTime> = (0..4)
            .map(|d| run(start + SignedDuration::from_hours(24 * d), 5))
            .collect();
        assert_eq!(Rhythm::learn(&few, &zone()), None);
    }

    #[test]
    fn a_weekday_job_is_daily_on_weekdays() {
        let runs: Vec<RunTime> = (2..=27)
            .map(|d| local(&format!("2026-11-{d:02} 03:00")))
            .filter(|t| t.to_zoned(zone()).weekday().to_monday_zero_offset() < 5)
            .map(|t| run(t, 20))
            .collect();
        let rhythm = Rhythm::learn(&runs, &zone()).unwrap();
        assert_eq!(
            rhythm.to_string(),
            "daily around 03:00 (Mon, Tue, Wed, Thu, Fri), grace 1h"
        );
        assert_eq!(
            rhythm.schedule("Europe/Berlin").to_json(),
            serde_json::json!({"cron": "0 3 * * 1-5", "tz": "Europe/Berlin"})
        );
        // A week of history is too short to say a day is left out.
        let week: Vec<RunTime> = runs.into_iter().take(5).collect();
        assert_eq!(
            Rhythm::learn(&week, &zone()).unwrap().to_string(),
            "daily around 03:00, grace 1h"
        );
    }

    /// A server that runs its cron in UTC keeps UTC's time across both changes of the
    /// local clock; a job on local time keeps the local one.
    #[test]
    fn the_zone_whose_clock_the_runs_keep_is_learned_across_both_changes() {
        let utc_job = |from: &str, days: i64| -> Vec<RunTime> {
            let first: Timestamp = from.parse().unwrap();
            (0..days)
                .map(|d| run(first + SignedDuration::from_hours(24 * d), 15))
                .collect()
        };
        for (from, what) in [
            ("2026-03-20T02:00:00Z", "spring"),
            ("2026-10-15T02:00:00Z", "autumn"),
        ] {
            let rhythm = Rhythm::learn(&utc_job(from, 20), &zone()).unwrap();
            assert_eq!(
                rhythm.to_string(),
                "daily around 02:00 UTC, grace 1h",
                "{what}"
            );
            assert_eq!(
                rhythm.schedule("Europe/Berlin").to_json(),
                serde_json::json!({"cron": "0 2 * * *", "tz": "UTC"}),
                "{what}"
            );
        }
        let local_job: Vec<RunTime> = (20..31)
            .map(|d| run(local(&format!("2026-03-{d} 04:00")), 15))
            .collect();
        let rhythm = Rhythm::learn(&local_job, &zone()).unwrap();
        assert_eq!(rhythm.to_string(), "daily around 04:00, grace 1h");
        assert_eq!(
            rhythm.schedule("Europe/Berlin").to_json(),
            serde_json::json!({"cron": "0 4 * * *", "tz": "Europe/Berlin"})
        );
    }

    #[test]
    fn a_day_skipped_now_and_then_is_still_daily() {
        let runs: Vec<RunTime> = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
            .iter()
            .map(|d| run(local(&format!("2026-11-{d:02} 22:45")), 20))
            .collect();
        assert_eq!(
            Rhythm::learn(&runs, &zone()).unwrap().to_string(),
            "daily around 22:45, grace 1h"
        );
    }
}

//! Problems no backup tool reports by itself: a "successful" run that backed up far less
//! than usual, and a job that has not succeeded for too long.

use std::fmt;

use jiff::SignedDuration;

use super::{BackupEvent, EventKind, ParseError, RunStatus, format_period, parse_period};

/// When a successful run counts as shrunk: its size or file count fell more than `percent`
/// below the median of the source's last `runs` successful runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkRule {
    /// 0 turns the check off.
    percent: u8,
    runs: u8,
}

impl ShrinkRule {
    pub const DEFAULT: Self = Self {
        percent: 50,
        runs: 5,
    };
    pub const MIN_RUNS: i64 = 3;
    /// Also how many runs' figures are kept per source.
    pub const MAX_RUNS: i64 = 50;

    pub fn new(percent: i64, runs: i64) -> Result<Self, ParseError> {
        if !(0..=99).contains(&percent) {
            return Err(ParseError::new(format!(
                "shrink_percent must be between 1 and 99, or 0 to turn the check off (got {percent})"
            )));
        }
        if !(Self::MIN_RUNS..=Self::MAX_RUNS).contains(&runs) {
            return Err(ParseError::new(format!(
                "shrink_runs must be between {} and {} (got {runs})",
                Self::MIN_RUNS,
                Self::MAX_RUNS
            )));
        }
        Ok(Self {
            percent: percent as u8,
            runs: runs as u8,
        })
    }

    pub fn percent(self) -> i64 {
        self.percent.into()
    }

    pub fn runs(self) -> i64 {
        self.runs.into()
    }

    pub fn is_off(self) -> bool {
        self.percent == 0
    }

    /// Why `run` looks shrunk next to `earlier` (the source's earlier successful runs,
    /// oldest first), or `None`. Only successful runs are judged: a failure says so itself.
    pub fn judge(self, run: &BackupEvent, earlier: &[Figures]) -> Option<String> {
        if self.is_off() || run.kind() != EventKind::Run || run.status() != RunStatus::Success {
            return None;
        }
        let window = &earlier[earlier.len().saturating_sub(self.runs as usize)..];
        if window.len() < self.runs as usize {
            return None;
        }
        let size = Self::judge_figure(
            self.percent,
            run.size_bytes(),
            window.iter().filter_map(|f| f.size),
            "size",
            &super::human_size,
        );
        let files = Self::judge_figure(
            self.percent,
            run.files(),
            window.iter().filter_map(|f| f.files),
            "files",
            &|n| group_thousands(n),
        );
        let reasons: Vec<String> = [size, files].into_iter().flatten().collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    fn judge_figure(
        percent: u8,
        now: Option<i64>,
        before: impl Iterator<Item = i64>,
        what: &str,
        show: &dyn Fn(i64) -> String,
    ) -> Option<String> {
        let now = now?;
        let mut before: Vec<i64> = before.collect();
        // Every run of the window must report the figure: a median of two is no habit.
        if before.len() < 3 {
            return None;
        }
        let median = median(&mut before);
        if median <= 0 {
            return None;
        }
        // Worded only for a shrunk run: this runs for every successful backup.
        let usual = || {
            let (low, high) = low_and_high(&before);
            if low == high {
                format!("usually {}", show(low))
            } else {
                format!("usually {}–{}", show(low), show(high))
            }
        };
        if now == 0 && what == "files" {
            return Some(format!("no files backed up ({})", usual()));
        }
        // `now < median * (100 - percent) / 100`, in integers that cannot overflow.
        let limit = i128::from(median) * i128::from(100 - percent);
        if i128::from(now) * 100 >= limit {
            return None;
        }
        let drop = 100 - (i128::from(now) * 100 / i128::from(median));
        Some(format!(
            "{what} dropped {drop} %: {} → {} ({})",
            show(median),
            show(now),
            usual()
        ))
    }
}

impl Default for ShrinkRule {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The figures a run reported, as kept per source to judge the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub size: Option<i64>,
    pub files: Option<i64>,
    /// How long it took, in milliseconds.
    pub duration: Option<i64>,
}

impl Figures {
    /// What a run adds to its source's usual figures: a run the tool called successful and
    /// that reported a size or a file count (including a shrunk one, so that a smaller
    /// backup that is here to stay becomes the usual size after a few runs).
    pub fn of(run: &BackupEvent) -> Option<Self> {
        let figures = Self {
            size: run.size_bytes(),
            files: run.files(),
            duration: run.duration_ms(),
        };
        (run.kind() == EventKind::Run
            && run.status() == RunStatus::Success
            && (figures.size.is_some() || figures.files.is_some() || figures.duration.is_some()))
        .then_some(figures)
    }
}

/// A successful run far longer or shorter than its source's usual (the median of its last
/// runs, `runs` of them as the shrink rule counts): a warning that says so, the way a shrink
/// is. Longer: more than three times the usual and 10 minutes more; shorter: under a quarter
/// of it and 10 minutes less (a minute's jitter in a short job is nothing).
pub fn judge_duration(run: &BackupEvent, earlier: &[Figures], runs: usize) -> Option<String> {
    const SLACK_MS: i64 = 10 * 60 * 1000;
    if run.kind() != EventKind::Run || run.status() != RunStatus::Success {
        return None;
    }
    let now = run.duration_ms()?;
    // The newest `runs` that report a duration.
    let mut before = Vec::with_capacity(runs.min(earlier.len()));
    before.extend(earlier.iter().rev().filter_map(|f| f.duration).take(runs));
    if before.len() < 3 {
        return None;
    }
    let usual = median(&mut before);
    // Worded only for a run that is unusual: every report of a monitor is judged.
    let range = || {
        let (low, high) = low_and_high(&before);
        let (low, high) = (super::human_duration(low), super::human_duration(high));
        if low == high {
            low
        } else {
            format!("{low}–{high}")
        }
    };
    if now > usual.saturating_mul(3) && now - usual > SLACK_MS {
        return Some(format!(
            "took {}, far longer than usual ({})",
            super::human_duration(now),
            range()
        ));
    }
    if now < usual / 4 && usual - now > SLACK_MS {
        return Some(format!(
            "took {}, far shorter than usual ({}): did it back up everything?",
            super::human_duration(now),
            range()
        ));
    }
    None
}

/// The usual duration of the monitor's newest successful runs (the median of up to ten that
/// report one, at least three): what a running backup is held against.
pub fn usual_duration<'a>(recent: impl Iterator<Item = &'a BackupEvent>) -> Option<SignedDuration> {
    let mut durations: Vec<i64> = recent
        .filter(|e| e.kind() == EventKind::Run && e.status() == RunStatus::Success)
        .filter_map(BackupEvent::duration_ms)
        .take(10)
        .collect();
    if durations.len() < 3 {
        return None;
    }
    Some(SignedDuration::from_millis(median(&mut durations)))
}

/// The median of `values` (not empty), which it reorders: a selection, not a sort, since
/// each successful report is judged against up to fifty earlier runs.
fn median(values: &mut [i64]) -> i64 {
    let odd = values.len() % 2 == 1;
    let (lower, &mut upper, _) = values.select_nth_unstable(values.len() / 2);
    if odd {
        return upper;
    }
    let below = lower.iter().copied().max().unwrap_or(upper);
    ((i128::from(below) + i128::from(upper)) / 2) as i64
}

/// The smallest and the largest of `values` (not empty).
fn low_and_high(values: &[i64]) -> (i64, i64) {
    values.iter().fold((i64::MAX, i64::MIN), |(low, high), &v| {
        (low.min(v), high.max(v))
    })
}

/// `12345` -> `12,345`.
fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// "Alert when no success for": a problem when the newest successful run is older than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoSuccessAlert {
    /// Twice the interval the monitor's history shows (schedule or learned rhythm), plus
    /// grace; nothing while there is no regular rhythm to go by.
    #[default]
    Auto,
    Off,
    After(SignedDuration),
}

impl NoSuccessAlert {
    /// `auto`, `off`, or a period such as `3d`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "off" | "never" | "0" => Ok(Self::Off),
            other => parse_period(other, "no_success_after")
                .map(Self::After)
                .map_err(|e| ParseError::new(format!("{e}, or auto, or off"))),
        }
    }

    /// As stored and as the options write it.
    pub fn to_text(self) -> String {
        match self {
            Self::Auto => "auto".into(),
            Self::Off => "off".into(),
            Self::After(d) => format_period(d),
        }
    }
}

impl fmt::Display for NoSuccessAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SenderKind;

    #[test]
    fn the_median_of_unsorted_values() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [40, 10, 30, 20]), 25);
        assert_eq!(median(&mut [7]), 7);
        assert_eq!(median(&mut [i64::MAX, i64::MAX]), i64::MAX);
        assert_eq!(low_and_high(&[4, -2, 9, 0]), (-2, 9));
    }

    fn run(size: Option<i64>, files: Option<i64>) -> BackupEvent {
        let mut e = BackupEvent::new(
            SenderKind::named("kopia"),
            EventKind::Run,
            RunStatus::Success,
        );
        if let Some(s) = size {
            e = e.with_size_bytes(s as u64);
        }
        if let Some(f) = files {
            e = e.with_files(f as u64);
        }
        e
    }

    fn history(sizes: &[i64]) -> Vec<Figures> {
        sizes
            .iter()
            .map(|&s| Figures {
                size: Some(s),
                files: Some(10_000),
                duration: None,
            })
            .collect()
    }

    const GB: i64 = 1_000_000_000;

    fn timed(ms: i64) -> BackupEvent {
        BackupEvent::new(
            SenderKind::named("kopia"),
            EventKind::Run,
            RunStatus::Success,
        )
        .with_duration_ms(ms)
    }

    #[test]
    fn a_run_far_longer_or_shorter_than_usual_is_named() {
        const MIN: i64 = 60_000;
        let earlier: Vec<Figures> = [20 * MIN, 22 * MIN, 25 * MIN, 21 * MIN]
            .into_iter()
            .map(|d| Figures {
                duration: Some(d),
                ..Figures::default()
            })
            .collect();
        assert_eq!(
            judge_duration(&timed(130 * MIN), &earlier, 5).unwrap(),
            "took 2 h 10 min, far longer than usual (20 min 0 s–25 min 0 s)"
        );
        assert!(
            judge_duration(&timed(MIN), &earlier, 5)
                .unwrap()
                .starts_with("took 1 min 0 s, far shorter than usual")
        );
        assert_eq!(judge_duration(&timed(30 * MIN), &earlier, 5), None);
        // A short job's jitter is nothing.
        let quick: Vec<Figures> = [2_000, 2_500, 3_000]
            .into_iter()
            .map(|d| Figures {
                duration: Some(d),
                ..Figures::default()
            })
            .collect();
        assert_eq!(judge_duration(&timed(20_000), &quick, 5), None);
        assert_eq!(
            judge_duration(&timed(130 * MIN), &earlier[..2], 5),
            None,
            "two runs are no habit"
        );
    }

    #[test]
    fn a_drop_beyond_the_threshold_is_named_with_the_usual_range() {
        let earlier = history(&[
            14 * GB / 10,
            15 * GB / 10,
            16 * GB / 10,
            15 * GB / 10,
            15 * GB / 10,
        ]);
        let why = ShrinkRule::DEFAULT
            .judge(&run(Some(102_000_000), Some(10_000)), &earlier)
            .unwrap();
        assert_eq!(
            why,
            "size dropped 94 %: 1.50 GB → 102.0 MB (usually 1.40 GB–1.60 GB)"
        );
        assert_eq!(
            ShrinkRule::DEFAULT.judge(&run(Some(15 * GB / 10), Some(10_000)), &earlier),
            None
        );
    }

    #[test]
    fn zero_files_where_there_were_many_is_said_plainly() {
        let earlier = history(&[GB; 5]);
        assert_eq!(
            ShrinkRule::DEFAULT
                .judge(&run(Some(GB), Some(0)), &earlier)
                .unwrap(),
            "no files backed up (usually 10,000)"
        );
    }

    #[test]
    fn too_little_history_or_a_turned_off_rule_says_nothing() {
        let tiny = run(Some(1), Some(1));
        assert_eq!(ShrinkRule::DEFAULT.judge(&tiny, &history(&[GB; 4])), None);
        let off = ShrinkRule::new(0, 5).unwrap();
        assert_eq!(off.judge(&tiny, &history(&[GB; 10])), None);
        let failed = BackupEvent::new(
            SenderKind::named("kopia"),
            EventKind::Run,
            RunStatus::Failed,
        )
        .with_size_bytes(1);
        assert_eq!(
            ShrinkRule::DEFAULT.judge(&failed, &history(&[GB; 10])),
            None
        );
    }

    #[test]
    fn only_the_last_runs_of_the_window_count() {
        // Long ago the backup was ten times bigger; the last five runs are the usual now.
        let mut sizes = vec![10 * GB; 20];
        sizes.extend([GB; 5]);
        let rule = ShrinkRule::DEFAULT;
        assert_eq!(rule.judge(&run(Some(GB), None), &history(&sizes)), None);
        let wide = ShrinkRule::new(50, 25).unwrap();
        assert!(wide.judge(&run(Some(GB), None), &history(&sizes)).is_some());
    }

    #[test]
    fn rules_and_alerts_are_checked() {
        assert!(ShrinkRule::new(100, 5).is_err());
        assert!(
            ShrinkRule::new(50, 2)
                .unwrap_err()
                .0
                .contains("between 3 and 50")
        );
        assert_eq!(NoSuccessAlert::parse("").unwrap(), NoSuccessAlert::Auto);
        assert_eq!(NoSuccessAlert::parse("Off").unwrap(), NoSuccessAlert::Off);
        assert_eq!(
            NoSuccessAlert::parse("3d").unwrap(),
            NoSuccessAlert::After(SignedDuration::from_hours(72))
        );
        assert_eq!(NoSuccessAlert::parse("3d").unwrap().to_text(), "3d");
        assert!(
            NoSuccessAlert::parse("soon")
                .unwrap_err()
                .0
                .contains("auto")
        );
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(12), "12");
    }
}

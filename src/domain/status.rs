//! A monitor's status, worked out from its runs.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::event::string_enum;
use super::{
    BackupEvent, EventKind, Grace, Monitor, NoSuccessAlert, Pause, Rhythm, RunStatus, RunTime,
    Schedule, StoredEvent, format_period, format_span, human_duration, usual_duration,
};

/// What Home Assistant shows for a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorStatus {
    Success,
    Warning,
    Failed,
    /// The schedule expected a run that has not arrived.
    Overdue,
    /// A start arrived and its end has not.
    Running,
    /// Nothing received yet, or only results nobody could read.
    Unknown,
    /// Paused by hand or in a maintenance window: nothing is a problem until it resumes.
    Paused,
}

string_enum!(MonitorStatus {
    Success => "success",
    Warning => "warning",
    Failed => "failed",
    Overdue => "overdue",
    Running => "running",
    Unknown => "unknown",
    Paused => "paused",
});

impl MonitorStatus {
    pub const ALL: [Self; 7] = [
        Self::Success,
        Self::Warning,
        Self::Failed,
        Self::Overdue,
        Self::Running,
        Self::Unknown,
        Self::Paused,
    ];

    /// The monitor's status is the worst of the latest run status of each of its sources.
    pub fn worst_of(latest_per_source: impl IntoIterator<Item = RunStatus>) -> Self {
        match latest_per_source.into_iter().max() {
            Some(RunStatus::Success) => Self::Success,
            Some(RunStatus::Warning) => Self::Warning,
            Some(RunStatus::Failed) => Self::Failed,
            // A run whose outcome nobody could read is not fine, and not "nothing yet".
            Some(RunStatus::Unknown) => Self::Warning,
            None => Self::Unknown,
        }
    }

    /// `binary_sensor.kopia_{key}_problem` is on for these: a warning (a status nobody
    /// understood, a body no sender reads, failed entries) needs a look as much as a failure.
    pub fn is_problem(self) -> bool {
        matches!(self, Self::Warning | Self::Failed | Self::Overdue)
    }
}

/// What a monitor's status and Home Assistant entities are computed from.
#[derive(Debug, Clone, Default)]
pub struct MonitorRuns {
    /// The newest run of each source; a run naming no source is listed with `source() == None`.
    pub latest_per_source: Vec<StoredEvent>,
    /// The newest successful run of each source that has one.
    pub success_per_source: Vec<StoredEvent>,
    /// The newest runs, newest first, at most the monitor's history limit.
    pub recent: Vec<StoredEvent>,
    pub last_success: Option<StoredEvent>,
    pub last_test: Option<StoredEvent>,
    /// The newest `start` event; the job is running if it is newer than the newest run.
    pub last_start: Option<StoredEvent>,
    /// The newest check of the backups, and the newest that passed.
    pub last_check: Option<StoredEvent>,
    pub last_verified: Option<StoredEvent>,
    /// When the newest runs (up to [`MonitorRuns::RUN_TIMES`]) began and arrived, to learn
    /// the job's rhythm from.
    pub run_times: Vec<RunTime>,
    /// The newest live progress report, if a backup reports one.
    pub progress: Option<LiveProgress>,
}

impl MonitorRuns {
    pub const RUN_TIMES: usize = 60;
}

/// The newest progress report of a running backup (see [`super::Progress`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveProgress {
    pub source: Option<String>,
    pub phase: Option<String>,
    /// 0 to 1.
    pub fraction: Option<f64>,
    pub files_done: Option<i64>,
    pub files_total: Option<i64>,
    pub bytes_done: Option<i64>,
    pub bytes_total: Option<i64>,
    pub started_at: Option<Timestamp>,
    pub reported_at: Timestamp,
}

/// What a monitor expects: runs on a schedule, each at most `grace` late, started runs
/// that finish within `grace`, and a success at least every so often.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub schedule: Option<&'a Schedule>,
    pub grace: Grace,
    /// Without any run yet, the first one is expected one period after this.
    pub watching_since: Timestamp,
    pub no_success: NoSuccessAlert,
    /// Where a rhythm is learned: Home Assistant's time zone.
    pub zone: &'a TimeZone,
    pub pause: Option<&'a Pause>,
    /// Not verified (no passing check) for longer than this is a problem; `None`: off.
    pub not_verified_after: Option<SignedDuration>,
}

impl<'a> Expectations<'a> {
    pub fn of(monitor: &'a Monitor, zone: &'a TimeZone) -> Self {
        Self {
            schedule: monitor.schedule.as_ref(),
            grace: monitor.grace,
            watching_since: monitor.created_at,
            no_success: monitor.no_success,
            zone,
            pause: Some(&monitor.pause),
            not_verified_after: monitor.not_verified_after,
        }
    }
}

/// How long without a success is a problem (the alert's own period, or `auto`'s: two runs
/// missed after the last success, and grace — the gap being waited through, so a weekday
/// job's weekend is not two missed days).
fn no_success_limit(
    expect: &Expectations<'_>,
    rhythm: Option<&Rhythm>,
    since: Option<Timestamp>,
) -> Option<SignedDuration> {
    match expect.no_success {
        NoSuccessAlert::Off => None,
        NoSuccessAlert::After(limit) => Some(limit),
        NoSuccessAlert::Auto => {
            let learned = rhythm.map(|r| r.schedule(expect.zone.iana_name().unwrap_or("UTC")));
            let from = since.unwrap_or(expect.watching_since);
            expect
                .schedule
                .or(learned.as_ref())
                .and_then(|s| s.next_after(s.next_after(from)?))
                .and_then(|second| second.checked_add(expect.grace.duration()).ok())
                .map(|deadline| deadline.duration_since(from))
        }
    }
}

/// The monitor has gone without a successful run for longer than it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuccess {
    /// The newest success; `None`: none since the monitor was created.
    pub since: Option<Timestamp>,
    /// How long without one is a problem.
    pub limit: SignedDuration,
    /// How long it has been.
    pub for_: SignedDuration,
}

/// What a monitor looks like right now: shown in the panel, pushed to Home Assistant.
#[derive(Debug, Clone)]
pub struct MonitorSummary {
    pub status: MonitorStatus,
    /// The run that explains the status: the newest run whose status is the monitor's.
    pub headline: Option<StoredEvent>,
    /// The newest run of each source that still counts, newest first.
    pub sources: Vec<StoredEvent>,
    /// The newest successful run of each source that has one.
    pub success_per_source: Vec<StoredEvent>,
    pub last_success: Option<StoredEvent>,
    /// Newest first, at most the monitor's history limit.
    pub recent: Vec<StoredEvent>,
    /// When anything last arrived (a run, a start or a test).
    pub last_seen: Option<Timestamp>,
    /// When the schedule expects the next run (UTC).
    pub next_expected: Option<Timestamp>,
    /// A start arrived at this time and no run since.
    pub running_since: Option<Timestamp>,
    /// When the status turns `overdue` by itself if nothing arrives: a timer wakes then.
    pub changes_at: Option<Timestamp>,
    /// The schedule the history shows, for a monitor without one.
    pub rhythm: Option<Rhythm>,
    /// How long without a success is a problem (the alert's own period, or `auto`'s).
    pub no_success_limit: Option<SignedDuration>,
    /// Set when going without a success has become a problem by itself.
    pub no_success: Option<NoSuccess>,
    /// How far the running backup is, while its tool reports it.
    pub progress: Option<LiveProgress>,
    /// Reports of this monitor were refused because the add-on's disk is full.
    pub storage_full: Option<StorageFull>,
    /// The usual duration of a successful run, learned from the newest ones.
    pub usual_duration: Option<SignedDuration>,
    /// How long the running backup has been running (at the time worked out).
    pub running_for: Option<SignedDuration>,
    /// Paused (by hand or in a maintenance window) until this time.
    pub paused_until: Option<Timestamp>,
    /// The newest check of the backups, if any ever arrived.
    pub last_check: Option<StoredEvent>,
    /// When a check last passed.
    pub last_verified: Option<Timestamp>,
    /// A failed check that still counts (no check or run since): why.
    pub failed_check: Option<String>,
    /// Not verified for longer than the monitor allows: since when (`None`: never), the limit.
    pub not_verified: Option<(Option<Timestamp>, SignedDuration)>,
    /// A run was expected, or a started one should have ended, and the time has passed.
    pub late: bool,
}

/// Reports refused because the disk the add-on stores into is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageFull {
    /// How many of this monitor's reports were refused.
    pub refused: u64,
    /// When the first was refused.
    pub since: Timestamp,
}

impl MonitorSummary {
    /// The status is the worst of the latest run of every source. A run that names no
    /// source (Kopia's maintenance error, say) concerns the whole monitor until any newer
    /// run arrives. A monitor that has only received a sender's test notification shows
    /// `success`: the path from the backup tool works.
    ///
    /// Then time: after a start and no run since, the monitor is `running`; when the
    /// schedule's next run plus grace has passed, or a started run has taken longer than
    /// grace, it is `overdue` (Healthchecks' semantics). Going without a success for longer
    /// than the no-success alert allows is `overdue` too, unless the runs already say
    /// `failed` or `warning` (the reason then says both).
    pub fn compute(runs: MonitorRuns, expect: Expectations<'_>, now: Timestamp) -> Self {
        let rhythm = match expect.schedule {
            None => Rhythm::learn(&runs.run_times, expect.zone),
            Some(_) => None,
        };
        let usual = usual_duration(runs.recent.iter().map(|e| &e.event));
        let checks = (runs.last_check.clone(), runs.last_verified.clone());
        // A pause that ended counts as the last word: runs missed during it are not overdue.
        let resumed_at = expect
            .pause
            .and_then(|p| p.until)
            .filter(|until| *until <= now);
        let newest_run = runs.recent.first().map(|r| (r.id, r.received_at));
        // A live progress report newer than the newest run: running, and overdue only when
        // the reports stop for longer than grace (a long backup that reports is fine).
        let progress = runs
            .progress
            .clone()
            .filter(|p| newest_run.is_none_or(|(_, at)| p.reported_at > at));
        // A start is ended by a newer run, or by a newer check (a check-only run's start).
        let newest_end = newest_run
            .map(|(id, _)| id)
            .max(runs.last_check.as_ref().map(|c| c.id));
        let started = runs
            .last_start
            .as_ref()
            .filter(|start| newest_end.is_none_or(|id| start.id > id))
            .map(|start| start.received_at);
        let grace = expect.grace.duration();
        // A start without progress reports may run for several times its usual duration
        // (never less than grace); with reports, grace after the newest.
        let (running_since, alive_at, run_limit) = match &progress {
            Some(p) => (
                Some(p.started_at.unwrap_or(p.reported_at)),
                Some(p.reported_at),
                grace,
            ),
            None => (
                started,
                started,
                usual.map_or(grace, |u| grace.max(u.saturating_mul(4))),
            ),
        };
        let mut summary = Self::from_runs(runs);
        if running_since.is_some() {
            summary.status = MonitorStatus::Running;
        }
        summary.progress = progress;
        summary.usual_duration = usual;
        summary.running_for = running_since.map(|since| now.duration_since(since));
        let base = newest_run
            .map_or(expect.watching_since, |(_, at)| at)
            .max(resumed_at.unwrap_or(Timestamp::MIN));
        let next_expected = expect.schedule.and_then(|s| s.next_after(base));
        let deadline = [
            next_expected.and_then(|t| t.checked_add(grace).ok()),
            alive_at.and_then(|t| t.checked_add(run_limit).ok()),
        ]
        .into_iter()
        .flatten()
        .min();
        let mut changes_at = None;
        match deadline {
            Some(deadline) if now >= deadline => {
                summary.status = MonitorStatus::Overdue;
                summary.late = true;
            }
            Some(deadline) => changes_at = Some(deadline),
            None => {}
        }
        let since = summary.last_success.as_ref().map(|e| e.received_at);
        let limit = no_success_limit(&expect, rhythm.as_ref(), since);
        let from = since
            .unwrap_or(expect.watching_since)
            .max(resumed_at.unwrap_or(Timestamp::MIN));
        if let Some(limit) = limit
            && let Some(at) = from.checked_add(limit).ok()
        {
            if now >= at {
                summary.no_success = Some(NoSuccess {
                    since,
                    limit,
                    for_: now.duration_since(since.unwrap_or(expect.watching_since)),
                });
                if !matches!(
                    summary.status,
                    MonitorStatus::Failed | MonitorStatus::Warning
                ) {
                    summary.status = MonitorStatus::Overdue;
                }
            } else {
                changes_at = Some(changes_at.map_or(at, |c: Timestamp| c.min(at)));
            }
        }
        summary.next_expected = next_expected;
        summary.running_since = running_since;
        summary.changes_at = changes_at;
        summary.rhythm = rhythm;
        summary.no_success_limit = limit;
        summary.apply_checks(checks, newest_run.map(|(id, _)| id), &expect, now);
        if let Some(until) = expect.pause.and_then(|p| p.paused_until(now)) {
            // Nothing is a problem while paused; it is worked out again when it resumes.
            summary.status = MonitorStatus::Paused;
            summary.no_success = None;
            summary.paused_until = Some(until);
            summary.changes_at = Some(until);
        }
        summary
    }

    /// Checks of the backups: the newest failed one is a failure until a newer check or run
    /// arrives; no passing check for longer than the monitor allows is `overdue`.
    fn apply_checks(
        &mut self,
        (last_check, last_verified): (Option<StoredEvent>, Option<StoredEvent>),
        newest_run: Option<i64>,
        expect: &Expectations<'_>,
        now: Timestamp,
    ) {
        self.last_verified = last_verified.as_ref().map(|c| c.received_at);
        if let Some(check) = &last_check
            && check.event.status() == RunStatus::Failed
            && newest_run.is_none_or(|run| check.id > run)
        {
            let why = check
                .event
                .error()
                .unwrap_or("the check of the backups failed, without a reason given");
            self.failed_check = Some(why.lines().next().unwrap_or(why).to_owned());
            self.status = MonitorStatus::Failed;
        }
        self.last_check = last_check;
        let Some(limit) = expect.not_verified_after else {
            return;
        };
        let from = self.last_verified.unwrap_or(expect.watching_since);
        match from.checked_add(limit).ok() {
            Some(at) if now >= at => {
                self.not_verified = Some((self.last_verified, limit));
                if !matches!(self.status, MonitorStatus::Failed | MonitorStatus::Warning) {
                    self.status = MonitorStatus::Overdue;
                }
            }
            Some(at) => {
                self.changes_at = Some(self.changes_at.map_or(at, |c| c.min(at)));
            }
            None => {}
        }
    }

    /// [`MonitorSummary::compute`] for a stored monitor, as of now.
    pub fn of(monitor: &Monitor, runs: MonitorRuns, zone: &TimeZone) -> Self {
        Self::compute(runs, Expectations::of(monitor, zone), Timestamp::now())
    }

    /// Why the monitor is not fine, in words, naming the sources concerned:
    /// `/home: unable to open repository`. `None` when there is nothing to say.
    pub fn reason(&self) -> Option<String> {
        let mut parts: Vec<String> = self.runs_reason().into_iter().collect();
        if let Some(why) = &self.failed_check {
            parts.push(why.clone());
        }
        if let Some((since, limit)) = self.not_verified {
            parts.push(match since {
                Some(at) => format!(
                    "not verified since {} UTC (alert after {})",
                    at.strftime("%Y-%m-%d %H:%M"),
                    format_span(limit)
                ),
                None => format!("never verified (alert after {})", format_span(limit)),
            });
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// [`MonitorSummary::reason`] from the backups' runs and times alone.
    fn runs_reason(&self) -> Option<String> {
        if let Some(full) = self.storage_full {
            let reports = if full.refused == 1 {
                "report"
            } else {
                "reports"
            };
            return Some(format!(
                "the add-on's disk is full: {} {reports} refused since {} UTC (free space where Home Assistant keeps its data; refused reports are lost unless their tool retries)",
                full.refused,
                full.since.strftime("%Y-%m-%d %H:%M")
            ));
        }
        let no_success = self.no_success.map(|n| {
            let how_long = format_period(SignedDuration::from_hours(n.for_.as_hours().max(1)));
            let limit = format_span(n.limit);
            match n.since {
                Some(_) => format!("no successful run for {how_long} (alert after {limit})"),
                None => format!(
                    "no successful run since the monitor was created {how_long} ago (alert after {limit})"
                ),
            }
        });
        if self.status == MonitorStatus::Overdue {
            if !self.late && no_success.is_none() {
                // Overdue for its checks alone: said by the caller.
                return None;
            }
            return Some(match (self.running_since, no_success) {
                (_, Some(no_success)) => no_success,
                (Some(_), None) if self.progress.is_some() => {
                    "the running backup stopped reporting its progress".to_owned()
                }
                (Some(_), None) => match (self.running_for, self.usual_duration) {
                    (Some(running), Some(usual)) => format!(
                        "running for {} (usually {})",
                        human_duration(running.as_millis() as i64),
                        human_duration(usual.as_millis() as i64)
                    ),
                    (Some(running), None) => format!(
                        "running for {} without finishing",
                        human_duration(running.as_millis() as i64)
                    ),
                    _ => "the run that started has not finished in time".to_owned(),
                },
                (None, None) => "the expected run did not arrive in time".to_owned(),
            });
        }
        if !matches!(self.status, MonitorStatus::Failed | MonitorStatus::Warning) {
            return None;
        }
        const SHOWN: usize = 3;
        let concerned: Vec<String> = self
            .sources
            .iter()
            .filter(|e| MonitorStatus::worst_of([e.event.status()]) == self.status)
            .map(|e| {
                let what = e.event.error().map_or_else(
                    || format!("{} without a reason given", e.event.status()),
                    |error| error.lines().next().unwrap_or(error).to_owned(),
                );
                match e.event.source() {
                    Some(source) => format!("{source}: {what}"),
                    None => what,
                }
            })
            .collect();
        let mut text = concerned
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if concerned.len() > SHOWN {
            text.push_str(&format!(" (and {} more)", concerned.len() - SHOWN));
        }
        if let Some(no_success) = no_success {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&no_success);
        }
        (!text.is_empty()).then_some(text)
    }

    /// The newest successful run of `source` (`None`: runs that name no source).
    pub fn last_success_of(&self, source: Option<&str>) -> Option<&StoredEvent> {
        self.success_per_source
            .iter()
            .find(|e| e.event.source() == source)
    }

    /// The newest successful run that reports this figure: what the size, duration and
    /// files show, so that a failed run never reads as a backup of 0 B.
    pub fn last_good<T>(&self, figure: impl Fn(&BackupEvent) -> Option<T>) -> Option<T> {
        self.recent
            .iter()
            .chain(self.last_success.iter())
            .filter(|e| e.event.kind() == EventKind::Run && e.event.status() == RunStatus::Success)
            .find_map(|e| figure(&e.event))
    }

    /// The status from runs alone, before time and schedule are considered.
    pub(crate) fn from_runs(runs: MonitorRuns) -> Self {
        let newest_sourced = runs
            .latest_per_source
            .iter()
            .filter(|e| e.event.source().is_some())
            .map(|e| e.id)
            .max();
        let sources: Vec<StoredEvent> = runs
            .latest_per_source
            .into_iter()
            .filter(|e| {
                e.event.source().is_some() || newest_sourced.is_none_or(|newest| e.id > newest)
            })
            .collect();
        let mut status = MonitorStatus::worst_of(sources.iter().map(|e| e.event.status()));
        if sources.is_empty() && runs.last_test.is_some() {
            status = MonitorStatus::Success;
        }
        let headline = sources
            .iter()
            .filter(|e| MonitorStatus::worst_of([e.event.status()]) == status)
            .max_by_key(|e| e.id)
            .cloned();
        let last_seen = [
            runs.recent.first(),
            runs.last_test.as_ref(),
            runs.last_start.as_ref(),
            sources.iter().max_by_key(|e| e.id),
        ]
        .into_iter()
        .flatten()
        .map(|e| e.received_at)
        .max();
        Self {
            status,
            headline,
            sources,
            success_per_source: runs.success_per_source,
            last_success: runs.last_success,
            recent: runs.recent,
            last_seen,
            next_expected: None,
            running_since: None,
            changes_at: None,
            rhythm: None,
            no_success_limit: None,
            no_success: None,
            progress: None,
            storage_full: None,
            usual_duration: None,
            running_for: None,
            paused_until: None,
            last_check: None,
            last_verified: None,
            failed_check: None,
            not_verified: None,
            late: false,
        }
    }

    /// The monitor's reports are being refused because the disk is full: what its runs say
    /// is no longer true, so it is a failure that says why, whatever the runs say.
    pub fn with_storage_full(mut self, full: StorageFull) -> Self {
        self.status = MonitorStatus::Failed;
        self.storage_full = Some(full);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_latest_status_wins() {
        use RunStatus::*;
        assert_eq!(MonitorStatus::worst_of([]), MonitorStatus::Unknown);
        assert_eq!(
            MonitorStatus::worst_of([Success, Success]),
            MonitorStatus::Success
        );
        assert_eq!(
            MonitorStatus::worst_of([Success, Warning]),
            MonitorStatus::Warning
        );
        assert_eq!(
            MonitorStatus::worst_of([Warning, Failed, Success]),
            MonitorStatus::Failed
        );
        assert_eq!(
            MonitorStatus::worst_of([Success, Unknown]),
            MonitorStatus::Warning,
            "an outcome nobody understood is never fine"
        );
    }
}

#[cfg(test)]
mod summary_tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::SenderKind;

    fn stored(id: i64, kind: EventKind, source: Option<&str>, status: RunStatus) -> StoredEvent {
        StoredEvent::from_row(
            id,
            Timestamp::from_second(id).unwrap(),
            SenderKind::named("kopia"),
            kind,
            status,
            source.map(str::to_owned),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
    }

    fn run(id: i64, source: Option<&str>, status: RunStatus) -> StoredEvent {
        stored(id, EventKind::Run, source, status)
    }

    #[test]
    fn nothing_received_is_unknown() {
        let s = MonitorSummary::from_runs(MonitorRuns::default());
        assert_eq!(s.status, MonitorStatus::Unknown);
        assert!(s.headline.is_none());
    }

    #[test]
    fn one_failed_source_fails_the_monitor_and_explains_why() {
        let runs = MonitorRuns {
            latest_per_source: vec![
                run(3, Some("/b"), RunStatus::Success),
                run(2, Some("/a"), RunStatus::Failed),
            ],
            ..Default::default()
        };
        let s = MonitorSummary::from_runs(runs);
        assert_eq!(s.status, MonitorStatus::Failed);
        assert_eq!(s.headline.unwrap().id, 2);
    }

    #[test]
    fn a_sourceless_failure_counts_until_a_newer_run_arrives() {
        let failing = MonitorRuns {
            latest_per_source: vec![
                run(5, None, RunStatus::Failed),
                run(4, Some("/a"), RunStatus::Success),
            ],
            ..Default::default()
        };
        assert_eq!(
            MonitorSummary::from_runs(failing).status,
            MonitorStatus::Failed
        );
        let recovered = MonitorRuns {
            latest_per_source: vec![
                run(6, Some("/a"), RunStatus::Success),
                run(5, None, RunStatus::Failed),
            ],
            ..Default::default()
        };
        assert_eq!(
            MonitorSummary::from_runs(recovered).status,
            MonitorStatus::Success
        );
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn daily() -> Schedule {
        Schedule::from_text("1d", "UTC").unwrap()
    }

    static UTC: std::sync::LazyLock<TimeZone> = std::sync::LazyLock::new(|| TimeZone::UTC);

    fn expect(schedule: Option<&Schedule>) -> Expectations<'_> {
        Expectations {
            schedule,
            grace: Grace::from_secs(3600).unwrap(),
            watching_since: at(0),
            no_success: NoSuccessAlert::Off,
            zone: &UTC,
            pause: None,
            not_verified_after: None,
        }
    }

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// A weekday job's last success on Friday: the weekend is not a gap without success.
    fn friday_success() -> MonitorRuns {
        let friday = utc("2026-12-04T03:20:00Z").as_second();
        let success = run(friday, Some("/a"), RunStatus::Success);
        MonitorRuns {
            latest_per_source: vec![success.clone()],
            recent: vec![success.clone()],
            last_success: Some(success),
            ..Default::default()
        }
    }

    #[test]
    fn a_full_disk_is_a_failure_that_says_so() {
        let full = StorageFull {
            refused: 3,
            since: utc("2026-12-05T14:02:00Z"),
        };
        let summary =
            MonitorSummary::compute(friday_success(), expect(None), utc("2026-12-05T15:00:00Z"))
                .with_storage_full(full);
        assert_eq!(summary.status, MonitorStatus::Failed);
        assert!(summary.status.is_problem());
        let reason = summary.reason().unwrap();
        assert!(
            reason.starts_with(
                "the add-on's disk is full: 3 reports refused since 2026-12-05 14:02 UTC"
            ),
            "{reason}"
        );
    }

    #[test]
    fn a_weekday_cron_is_not_without_success_over_the_weekend() {
        let schedule = Schedule::cron("0 3 * * 1-5", "UTC").unwrap();
        let mut expect = expect(Some(&schedule));
        expect.no_success = NoSuccessAlert::Auto;
        let sunday = MonitorSummary::compute(friday_success(), expect, utc("2026-12-06T05:00:00Z"));
        assert_eq!(
            sunday.status,
            MonitorStatus::Success,
            "{:?}",
            sunday.reason()
        );
        assert_eq!(sunday.no_success, None);
        // Monday's and Tuesday's runs missed: no success for two runs and grace.
        let tuesday =
            MonitorSummary::compute(friday_success(), expect, utc("2026-12-08T04:01:00Z"));
        assert!(tuesday.no_success.is_some());
        let monday_late =
            MonitorSummary::compute(friday_success(), expect, utc("2026-12-08T03:59:00Z"));
        assert_eq!(
            monday_late.no_success, None,
            "not before Tuesday's run and grace"
        );
    }

    #[test]
    fn a_learned_weekday_rhythm_is_not_without_success_over_the_weekend() {
        // Three weeks of Monday-to-Friday runs at 03:00 UTC.
        let run_times: Vec<RunTime> = (9..=27)
            .map(|day| utc(&format!("2026-11-{day:02}T03:00:00Z")))
            .filter(|t| {
                !matches!(
                    t.to_zoned(TimeZone::UTC).weekday(),
                    jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
                )
            })
            .map(|began| RunTime {
                began,
                arrived: began + SignedDuration::from_mins(20),
            })
            .chain([RunTime {
                began: utc("2026-11-30T03:00:00Z"),
                arrived: utc("2026-11-30T03:20:00Z"),
            }])
            .chain((1..=4).map(|day| {
                let began = utc(&format!("2026-12-{day:02}T03:00:00Z"));
                RunTime {
                    began,
                    arrived: began + SignedDuration::from_mins(20),
                }
            }))
            .collect();
        let runs = MonitorRuns {
            run_times,
            ..friday_success()
        };
        let mut expect = expect(None);
        expect.no_success = NoSuccessAlert::Auto;
        let sunday = MonitorSummary::compute(runs, expect, utc("2026-12-06T05:00:00Z"));
        assert!(sunday.rhythm.is_some(), "the rhythm is learned");
        assert_eq!(sunday.no_success, None, "{:?}", sunday.reason());
    }

    #[test]
    fn a_daily_job_is_overdue_after_a_day_and_its_grace() {
        let schedule = daily();
        let runs = || MonitorRuns {
            latest_per_source: vec![run(100, Some("/a"), RunStatus::Success)],
            recent: vec![run(100, Some("/a"), RunStatus::Success)],
            ..Default::default()
        };
        let on_time =
            MonitorSummary::compute(runs(), expect(Some(&schedule)), at(100 + 86_400 + 3_599));
        assert_eq!(on_time.status, MonitorStatus::Success);
        assert_eq!(on_time.next_expected, Some(at(100 + 86_400)));
        assert_eq!(on_time.changes_at, Some(at(100 + 86_400 + 3_600)));
        let late =
            MonitorSummary::compute(runs(), expect(Some(&schedule)), at(100 + 86_400 + 3_600));
        assert_eq!(late.status, MonitorStatus::Overdue);
        assert!(late.status.is_problem());
        assert_eq!(late.changes_at, None);
    }

    #[test]
    fn a_job_that_never_reported_is_overdue_one_period_after_creation() {
        let schedule = daily();
        let s = MonitorSummary::compute(
            MonitorRuns::default(),
            expect(Some(&schedule)),
            at(86_400 + 3_600),
        );
        assert_eq!(s.status, MonitorStatus::Overdue);
        let without = MonitorSummary::compute(MonitorRuns::default(), expect(None), at(10_000_000));
        assert_eq!(without.status, MonitorStatus::Unknown);
    }

    #[test]
    fn a_start_means_running_until_a_run_or_grace_passes() {
        let start = stored(5, EventKind::Start, Some("/a"), RunStatus::Unknown);
        let runs = |newest_run: i64| MonitorRuns {
            latest_per_source: vec![run(newest_run, Some("/a"), RunStatus::Success)],
            recent: vec![run(newest_run, Some("/a"), RunStatus::Success)],
            last_start: Some(start.clone()),
            ..Default::default()
        };
        let running = MonitorSummary::compute(runs(4), expect(None), at(5 + 60));
        assert_eq!(running.status, MonitorStatus::Running);
        assert_eq!(running.last_seen, Some(at(5)), "a start counts as a report");
        assert_eq!(running.running_since, Some(at(5)));
        assert_eq!(running.changes_at, Some(at(5 + 3600)));
        let stuck = MonitorSummary::compute(runs(4), expect(None), at(5 + 3600));
        assert_eq!(stuck.status, MonitorStatus::Overdue);
        let finished = MonitorSummary::compute(runs(6), expect(None), at(5 + 3600));
        assert_eq!(finished.status, MonitorStatus::Success);
    }

    /// Successful runs of 20 minutes each, the newest ending at `ended`.
    fn twenty_minute_runs(ended: i64) -> Vec<StoredEvent> {
        (0..5)
            .map(|i| {
                let at = ended - i * 86_400;
                StoredEvent::from_row(
                    at,
                    Timestamp::from_second(at).unwrap(),
                    SenderKind::named("kopia"),
                    EventKind::Run,
                    RunStatus::Success,
                    Some("/a".into()),
                    None,
                    None,
                    Some(20 * 60_000),
                    None,
                    None,
                    None,
                    None,
                )
            })
            .collect()
    }

    #[test]
    fn a_run_that_hangs_is_a_problem_after_several_times_its_usual_duration() {
        let recent = twenty_minute_runs(1_000_000);
        let start = stored(1_050_000, EventKind::Start, Some("/a"), RunStatus::Unknown);
        let runs = || MonitorRuns {
            latest_per_source: vec![recent[0].clone()],
            recent: recent.clone(),
            last_start: Some(start.clone()),
            ..Default::default()
        };
        // Usually 20 min: 4 × 20 min = 80 min, more than grace (1 h).
        let at_70_min = MonitorSummary::compute(runs(), expect(None), at(1_050_000 + 70 * 60));
        assert_eq!(at_70_min.status, MonitorStatus::Running);
        assert_eq!(at_70_min.changes_at, Some(at(1_050_000 + 80 * 60)));
        let hung = MonitorSummary::compute(runs(), expect(None), at(1_050_000 + 5 * 3600));
        assert_eq!(hung.status, MonitorStatus::Overdue);
        assert_eq!(
            hung.reason().unwrap(),
            "running for 5 h 0 min (usually 20 min 0 s)"
        );
    }

    #[test]
    fn a_paused_monitor_is_no_problem_and_resumes_by_itself() {
        let schedule = daily();
        let runs = || MonitorRuns {
            latest_per_source: vec![run(100, Some("/a"), RunStatus::Failed)],
            recent: vec![run(100, Some("/a"), RunStatus::Failed)],
            ..Default::default()
        };
        let pause = Pause {
            until: Some(at(200_000)),
            window: None,
        };
        let mut paused = expect(Some(&schedule));
        paused.pause = Some(&pause);
        let during = MonitorSummary::compute(runs(), paused, at(100_000));
        assert_eq!(during.status, MonitorStatus::Paused);
        assert!(!during.status.is_problem());
        assert_eq!(during.changes_at, Some(at(200_000)), "it resumes by itself");
        // Resumed: the failure shows again; the runs the pause covered are not overdue.
        let after = MonitorSummary::compute(runs(), paused, at(200_001));
        assert_eq!(after.status, MonitorStatus::Failed);
        assert_eq!(after.next_expected, Some(at(200_000 + 86_400)));
    }

    #[test]
    fn a_test_notification_alone_shows_success() {
        let runs = MonitorRuns {
            last_test: Some(stored(1, EventKind::Test, None, RunStatus::Success)),
            ..Default::default()
        };
        let s = MonitorSummary::from_runs(runs);
        assert_eq!(s.status, MonitorStatus::Success);
        assert_eq!(s.last_seen, Some(Timestamp::from_second(1).unwrap()));
    }
}

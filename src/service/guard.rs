//! Throttling where abuse is, never where backup tools are.
//!
//! - A known monitor's authenticated reports pass a generous per-monitor limit (by default
//!   bursts of 1,000, then 100 a second): a Kopia server whose sources finish together, or a
//!   script replaying a day of results, is never refused.
//! - Unknown IDs and wrong signatures count against the peer that sent them. A peer over its
//!   budget gets 429 before anything is stored; a request with a valid signature still
//!   passes, so a leaked ID cannot starve the real sender of a monitor with a secret.
//! - Refused requests of a known monitor are recorded for the panel, at most one row a
//!   minute per monitor; the rest of a flood becomes one summary row with a count.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::store::Store;

/// Failed attempts (unknown IDs, wrong signatures) a peer may make at once…
const ABUSE_BURST: u32 = 20;
/// …and then one every this many seconds.
const ABUSE_EVERY: Duration = Duration::from_secs(3);
/// At most one refused request per monitor is written per this period; the rest are counted.
const RECORD_EVERY: Duration = Duration::from_secs(60);

pub(super) struct Guard {
    reports: DefaultKeyedRateLimiter<i64>,
    abuse: DefaultKeyedRateLimiter<IpAddr>,
    refusals: Mutex<HashMap<i64, Refusals>>,
    unknown: Mutex<HashMap<IpAddr, UnknownIds>>,
    /// The newest requests to unknown IDs, for the dashboard (bounded, newest first).
    recent_unknown: Mutex<std::collections::VecDeque<UnknownRequest>>,
    /// Bodies being read before their monitor is known, per peer.
    unattributed: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Bodies read at once before anyone knows whose they are (ntfy's JSON names its topic
/// inside), per peer and in all: at most this many times the body limit in memory.
const UNATTRIBUTED_PER_PEER: usize = 2;
const UNATTRIBUTED_TOTAL: usize = 16;

/// A place among the unattributed reads, given back when dropped.
pub(super) struct UnattributedRead {
    peer: IpAddr,
    reads: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for UnattributedRead {
    fn drop(&mut self) {
        let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = reads.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                reads.remove(&self.peer);
            }
        }
    }
}

/// How many requests to unknown IDs the dashboard lists.
const RECENT_UNKNOWN: usize = 20;

/// A request to a webhook ID no monitor has, as the dashboard lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnknownRequest {
    pub at: jiff::Timestamp,
    pub peer: Option<String>,
    /// The first characters of the ID.
    pub id: String,
    /// The monitor whose ID this is probably a mistyped form of.
    pub did_you_mean: Option<String>,
}

/// Refusals of one monitor since its last recorded row.
struct Refusals {
    written_at: Instant,
    suppressed: Option<Suppressed>,
}

/// What a summary row says: how many, and the last one's details.
pub(super) struct Suppressed {
    pub count: u64,
    pub status: u16,
    pub reason: String,
    pub peer: Option<String>,
}

/// Requests of one peer to unknown webhook IDs since it was last logged.
struct UnknownIds {
    logged_at: Instant,
    since_logged: u64,
    last_masked: String,
}

impl Guard {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let abuse = Quota::with_period(ABUSE_EVERY)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(ABUSE_BURST).unwrap_or(NonZeroU32::MIN));
        Self {
            reports: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            abuse: RateLimiter::keyed(abuse),
            refusals: Mutex::default(),
            unknown: Mutex::default(),
            recent_unknown: Mutex::default(),
            unattributed: Arc::default(),
        }
    }

    /// A place to read a body whose monitor is not known yet: refused (429) while the peer
    /// has its share being read, or (503) while all places are taken.
    pub fn unattributed_read(
        &self,
        peer: Option<IpAddr>,
    ) -> Result<UnattributedRead, super::ServiceError> {
        let peer = peer_key(peer);
        let mut reads = self.unattributed.lock().unwrap_or_else(|p| p.into_inner());
        if reads.values().sum::<usize>() >= UNATTRIBUTED_TOTAL {
            return Err(super::ServiceError::Busy { retry_after: 1 });
        }
        let count = reads.entry(peer).or_default();
        if *count >= UNATTRIBUTED_PER_PEER {
            return Err(super::ServiceError::TooMany { retry_after: 1 });
        }
        *count += 1;
        Ok(UnattributedRead {
            peer,
            reads: Arc::clone(&self.unattributed),
        })
    }

    /// An authenticated report of this monitor; `Err(seconds to wait)` over its limit.
    pub fn admit_report(&self, monitor_id: i64) -> Result<(), u64> {
        self.reports
            .check_key(&monitor_id)
            .map_err(|not_until| wait_secs(&not_until))
    }

    /// Has this peer used up its failed attempts? Asked before anything else is done for a
    /// request that will fail (an unknown ID), and after a signature check failed.
    pub fn failed_attempt(&self, peer: Option<IpAddr>) -> Result<(), u64> {
        self.abuse
            .check_key(&peer_key(peer))
            .map_err(|not_until| wait_secs(&not_until))
    }

    /// A known monitor's request was refused: `true` when this one should be written now,
    /// `false` when it is counted into the next summary row.
    pub fn note_refusal(
        &self,
        monitor_id: i64,
        status: u16,
        reason: &str,
        peer: Option<String>,
    ) -> bool {
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Within a minute of the last row, or with a summary still to be written (the
        // flusher writes it first): counted, not written.
        if let Some(window) = refusals.get_mut(&monitor_id)
            && (now.duration_since(window.written_at) < RECORD_EVERY || window.suppressed.is_some())
        {
            let suppressed = window.suppressed.get_or_insert(Suppressed {
                count: 0,
                status,
                reason: String::new(),
                peer: None,
            });
            suppressed.count += 1;
            suppressed.status = status;
            suppressed.reason = reason.to_owned();
            suppressed.peer = peer;
            return false;
        }
        refusals.insert(
            monitor_id,
            Refusals {
                written_at: now,
                suppressed: None,
            },
        );
        true
    }

    /// The counted refusals whose minute is over, per monitor.
    fn take_summaries(&self, all: bool) -> Vec<(i64, Suppressed)> {
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut due = Vec::new();
        refusals.retain(|monitor_id, window| {
            let over = all || now.duration_since(window.written_at) >= RECORD_EVERY;
            if over {
                if let Some(suppressed) = window.suppressed.take() {
                    due.push((*monitor_id, suppressed));
                    window.written_at = now;
                    return true;
                }
                return false;
            }
            true
        });
        due
    }

    /// Should this request to an unknown ID join the dashboard's list? At most one a minute
    /// per peer, or when a peer tries another ID.
    pub fn worth_listing(&self, masked: &str, peer: Option<IpAddr>) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        match unknown.get(&peer_key(peer)) {
            Some(entry) => {
                entry.last_masked != masked
                    || Instant::now().duration_since(entry.logged_at) >= RECORD_EVERY
            }
            None => true,
        }
    }

    pub fn list_unknown(&self, request: UnknownRequest) {
        let mut recent = self
            .recent_unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        recent.push_front(request);
        recent.truncate(RECENT_UNKNOWN);
    }

    pub fn recent_unknown(&self) -> Vec<UnknownRequest> {
        let recent = self
            .recent_unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        recent.iter().cloned().collect()
    }

    /// A request to an unknown webhook ID: logged at info at most once a minute per peer,
    /// with the ID masked and how many there were.
    pub fn note_unknown_id(&self, masked: String, peer: Option<IpAddr>) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let key = peer_key(peer);
        let entry = unknown.entry(key).or_insert_with(|| UnknownIds {
            logged_at: now - RECORD_EVERY,
            since_logged: 0,
            last_masked: String::new(),
        });
        entry.since_logged += 1;
        entry.last_masked = masked;
        if now.duration_since(entry.logged_at) >= RECORD_EVERY {
            log_unknown(key, entry);
            entry.logged_at = now;
            entry.since_logged = 0;
        }
    }

    fn flush_unknown(&self) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        unknown.retain(|peer, entry| {
            if now.duration_since(entry.logged_at) < RECORD_EVERY {
                return true;
            }
            if entry.since_logged > 0 {
                log_unknown(*peer, entry);
                entry.logged_at = now;
                entry.since_logged = 0;
                return true;
            }
            false
        });
    }
}

fn log_unknown(peer: IpAddr, entry: &UnknownIds) {
    tracing::info!(
        %peer,
        requests = entry.since_logged,
        webhook_id = %entry.last_masked,
        "requests to a webhook ID no monitor has (a typo in a backup tool's URL, or a deleted monitor?)"
    );
}

fn peer_key(peer: Option<IpAddr>) -> IpAddr {
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ip| ip.to_canonical())
}

fn wait_secs(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    not_until
        .wait_time_from(DefaultClock::default().now())
        .as_secs()
        + 1
}

/// Writes the minute's summaries of refused floods and forgets idle peers.
pub(super) async fn summarize_every_minute(guard: Arc<Guard>, store: Store) {
    let mut every = tokio::time::interval(Duration::from_secs(15));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        write_summaries(&guard, &store).await;
        guard.flush_unknown();
        guard.abuse.retain_recent();
        guard.reports.retain_recent();
    }
}

async fn write_summaries(guard: &Guard, store: &Store) {
    for (monitor_id, s) in guard.take_summaries(false) {
        let reason = format!(
            "{} more refused in the last minute; the last: {}",
            s.count, s.reason
        );
        if let Err(e) = store
            .record_rejection(monitor_id, s.peer, s.status, reason, Vec::new(), s.count)
            .await
        {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot record refused requests");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(
            NonZeroU32::new(100).unwrap(),
            NonZeroU32::new(1000).unwrap(),
        )
    }

    #[test]
    fn unattributed_reads_are_bounded_per_peer_and_in_all() {
        let guard = guard();
        let peer = |n: u8| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)));
        let first = guard.unattributed_read(peer(1)).unwrap();
        let _second = guard.unattributed_read(peer(1)).unwrap();
        assert!(matches!(
            guard.unattributed_read(peer(1)),
            Err(crate::service::ServiceError::TooMany { .. })
        ));
        drop(first);
        let _third = guard.unattributed_read(peer(1)).unwrap();
        let others: Vec<_> = (2..=15)
            .map(|n| guard.unattributed_read(peer(n)).unwrap())
            .collect();
        assert_eq!(others.len(), 14);
        assert!(matches!(
            guard.unattributed_read(peer(99)),
            Err(crate::service::ServiceError::Busy { .. })
        ));
        drop(others);
        assert!(guard.unattributed_read(peer(99)).is_ok());
    }

    #[test]
    fn a_thousand_reports_at_once_pass() {
        let g = guard();
        for _ in 0..1000 {
            assert!(g.admit_report(1).is_ok());
        }
        assert!(g.admit_report(1).is_err());
        assert!(g.admit_report(2).is_ok(), "monitors do not share a limit");
    }

    #[test]
    fn failed_attempts_are_counted_per_peer() {
        let g = guard();
        let a = Some("10.0.0.5".parse().unwrap());
        let b = Some("10.0.0.6".parse().unwrap());
        for _ in 0..ABUSE_BURST {
            assert!(g.failed_attempt(a).is_ok());
        }
        assert!(g.failed_attempt(a).is_err());
        assert!(g.failed_attempt(b).is_ok());
    }

    #[test]
    fn a_flood_of_refusals_is_one_row_then_one_summary() {
        let g = guard();
        assert!(g.note_refusal(7, 401, "bad signature", None));
        for _ in 0..500 {
            assert!(!g.note_refusal(7, 401, "bad signature", None));
        }
        assert!(g.take_summaries(false).is_empty(), "the minute is not over");
        let summaries = g.take_summaries(true);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].1.count, 500);
    }
}

//! Domain types: every value here was parsed from the outside world once, at the edge,
//! and cannot be built any other way.

mod alerts;
mod event;
mod heartbeat;
mod monitor;
mod overview;
mod pause;
mod rhythm;
mod schedule;
mod status;
mod words;

pub use alerts::{Figures, NoSuccessAlert, ShrinkRule, judge_duration, usual_duration};
pub use event::{
    BackupEvent, EventKind, Progress, RunStatus, SenderKind, StoredEvent, human_duration,
    human_size, printable,
};
pub use heartbeat::{Beat, HeartbeatKind, HeartbeatUrl, Ping};
pub use monitor::{
    HistoryLimit, IntegrationKey, Monitor, MonitorChanges, MonitorKey, MonitorName, NewMonitor,
    Origin, PingKey, Slug, WebhookId, placeholder_in,
};
pub use overview::{OVERVIEW_KEY, Overview, OverviewEntry};
pub use pause::{MaintenanceWindow, Pause};
pub use rhythm::{Rhythm, RunTime};
pub use schedule::{
    Grace, Schedule, format_period, format_span, parse_period, parse_period_or_off,
};
pub use status::{
    Expectations, LiveProgress, MonitorRuns, MonitorStatus, MonitorSummary, StorageFull,
};
pub use words::Said;

/// Why a value from the outside world was refused; the text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

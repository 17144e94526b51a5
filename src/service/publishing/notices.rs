//! Persistent notifications in Home Assistant for monitors with a problem (the
//! `problem_notifications` option): one per monitor, created when a problem starts or
//! changes kind, dismissed when the monitor recovers.

use crate::domain::{Monitor, MonitorSummary};
use crate::store::Notice;

/// How the add-on's notifications are told apart in Core (`persistent_notification`).
pub fn notification_id(monitor: &Monitor) -> String {
    format!("kopia_webhook_{}", monitor.key)
}

/// The notification a monitor should show now; `None` when it is fine. `panel` is a link
/// to the add-on's panel, added to the message when known.
pub fn problem_notice(
    monitor: &Monitor,
    summary: &MonitorSummary,
    panel: Option<&str>,
) -> Option<Notice> {
    if !summary.status.is_problem() {
        return None;
    }
    let name = monitor.name.as_str();
    let reason = summary
        .reason()
        .unwrap_or_else(|| "no reason was given".to_owned());
    let mut message = format!(
        "**{name}** is {}: {reason}.\n\nEntity: `sensor.kopia_{}`.",
        summary.status, monitor.key
    );
    if let Some(panel) = panel {
        message.push_str(&format!(" [Open the backup history]({panel})"));
    }
    message.push_str("\n\nThis notification goes away by itself when the backup is fine again.");
    Some(Notice {
        status: summary.status.to_string(),
        title: format!("Backup problem: {name}"),
        message,
    })
}

//! Home Assistant's own backups, as Core's backup integration tells them over the websocket:
//! its automatic-backup schedule (`backup/config/info`), each backup it lists
//! (`backup/info`) and its manager's events (`backup/subscribe_events`: a backup started,
//! completed, failed with a reason). What to record of them is the service's.

use std::future::Future;
use std::time::Duration;

use futures_util::SinkExt;
use jiff::Timestamp;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::socket::{Socket, SocketError, connect, read_json};

/// What Core said about its backups.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreBackupNews {
    /// Core's automatic backups, as a five-field cron expression (`45 4 * * 1,4`) in Home
    /// Assistant's zone (`Europe/Berlin`); `None`: no automatic backups.
    Schedule(Option<(String, String)>),
    /// A backup started (`in_progress`).
    Started,
    /// The backups Core lists now (after one completed, and at every connection).
    Backups(Vec<CoreBackup>),
    /// A backup failed: Core's reason, in words.
    Failed(String),
    /// An automatic backup was attempted at this time and none completed since (it failed
    /// while nothing listened).
    MissedAutomatic(Timestamp),
}

/// One backup Core lists.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreBackup {
    pub id: String,
    pub name: String,
    pub date: Timestamp,
    pub size: Option<u64>,
    /// Where it is stored (`backup.local`, `cloud.cloud`, `hassio.local`…).
    pub agents: Vec<String>,
    /// Where it should have been stored and is not.
    pub failed_agents: Vec<String>,
    /// Made by the automatic-backup settings (else by hand, or by an update).
    pub automatic: bool,
}

const ZONE: u64 = 1;
const CONFIG: u64 = 2;
const EVENTS: u64 = 3;
/// How often Core's automatic-backup settings are read again.
const CONFIG_EVERY: Duration = Duration::from_secs(600);

/// Follows Core's backups until the task is ended; reconnects with backoff.
pub async fn follow_core_backups<F, Fut>(url: String, token: SecretString, news: F)
where
    F: Fn(CoreBackupNews) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut delay = Duration::from_secs(1);
    loop {
        match session(&url, &token, &news).await {
            Err(SocketError::Protocol(why)) if why.contains("unknown_command") => {
                tracing::info!(
                    "Home Assistant has no backup integration: its own backups are not followed"
                );
                return;
            }
            Err(e) => {
                tracing::debug!(error = %crate::telemetry::ErrorChain(&e), "Home Assistant's backups: websocket closed");
            }
            Ok(()) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

async fn send(socket: &mut Socket, message: Value) -> Result<(), SocketError> {
    socket
        .send(Message::text(message.to_string()))
        .await
        .map_err(SocketError::Io)
}

/// Sends a command with the next ID; returns the ID.
async fn ask(socket: &mut Socket, next_id: &mut u64, kind: &str) -> Result<u64, SocketError> {
    let id = *next_id;
    *next_id += 1;
    send(socket, json!({"id": id, "type": kind})).await?;
    Ok(id)
}

async fn session<F, Fut>(url: &str, token: &SecretString, news: &F) -> Result<(), SocketError>
where
    F: Fn(CoreBackupNews) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut socket = connect(url, token).await?;
    send(&mut socket, json!({"id": ZONE, "type": "get_config"})).await?;
    send(
        &mut socket,
        json!({"id": CONFIG, "type": "backup/config/info"}),
    )
    .await?;
    send(
        &mut socket,
        json!({"id": EVENTS, "type": "backup/subscribe_events"}),
    )
    .await?;
    // `backup/info`, asked at connection and after each completed backup, and
    // `backup/config/info` again now and then (Core tells no event when its settings change):
    // the answers to the newest questions are read.
    let mut next_id = EVENTS + 1;
    let mut info_asked = ask(&mut socket, &mut next_id, "backup/info").await?;
    let mut config_asked = CONFIG;
    // The first event replays Core's last one: a backup still running counts, a finished
    // one was recorded from the list (or is in it now).
    let mut replayed = false;
    // The schedule is told once Home Assistant's zone is known too.
    let (mut zone, mut schedule): (Option<String>, Option<Option<String>>) = (None, None);
    loop {
        let message = match tokio::time::timeout(CONFIG_EVERY, read_json(&mut socket)).await {
            Ok(message) => message?,
            Err(_) => {
                config_asked = ask(&mut socket, &mut next_id, "backup/config/info").await?;
                continue;
            }
        };
        let id = message["id"].as_u64();
        match message["type"].as_str() {
            Some("result") if message["success"] != true => {
                let code = message["error"]["code"].as_str().unwrap_or("error");
                return Err(SocketError::Protocol(format!("{code} to a backup command")));
            }
            Some("result") if id == Some(ZONE) => {
                zone = Some(
                    message["result"]["time_zone"]
                        .as_str()
                        .unwrap_or("UTC")
                        .to_owned(),
                );
            }
            Some("result") if id == Some(config_asked) => {
                schedule = Some(schedule_of(&message["result"]["config"]));
            }
            Some("result") if id == Some(info_asked) => {
                let result = &message["result"];
                news(CoreBackupNews::Backups(backups_of(result))).await;
                if let Some(at) = missed_automatic(result) {
                    news(CoreBackupNews::MissedAutomatic(at)).await;
                }
            }
            Some("event") if id == Some(EVENTS) => {
                let event = &message["event"];
                let first = !std::mem::replace(&mut replayed, true);
                if event["manager_state"] != "create_backup" {
                    continue;
                }
                match event["state"].as_str() {
                    // The start, or (replayed) a backup already running when this connected.
                    Some("in_progress") if first || event["stage"].is_null() => {
                        news(CoreBackupNews::Started).await;
                    }
                    Some("completed") if !first => {
                        info_asked = ask(&mut socket, &mut next_id, "backup/info").await?;
                        config_asked = ask(&mut socket, &mut next_id, "backup/config/info").await?;
                    }
                    Some("failed") if !first => {
                        news(CoreBackupNews::Failed(reason_in_words(
                            event["reason"].as_str(),
                        )))
                        .await;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if let (Some(zone), Some(_)) = (&zone, &schedule)
            && let Some(cron) = schedule.take()
        {
            news(CoreBackupNews::Schedule(cron.map(|c| (c, zone.clone())))).await;
        }
    }
}

/// Core's automatic-backup schedule as a cron expression in its zone.
fn schedule_of(config: &Value) -> Option<String> {
    let schedule = &config["schedule"];
    let days = match schedule["recurrence"].as_str()? {
        "daily" => "*".to_owned(),
        "custom_days" => {
            let days: Vec<&str> = schedule["days"]
                .as_array()?
                .iter()
                .filter_map(|d| weekday_number(d.as_str()?))
                .collect();
            if days.is_empty() {
                return None;
            }
            days.join(",")
        }
        _ => return None,
    };
    // A time set by the user (`04:45:00`), else the one Core chose (`next_automatic_backup`,
    // in Home Assistant's zone: its offset is the zone's).
    let time = schedule["time"]
        .as_str()
        .or_else(|| config["next_automatic_backup"].as_str()?.get(11..16))?;
    let (hour, minute) = time.split_once(':')?;
    let minute: u8 = minute.get(..2)?.parse().ok()?;
    let hour: u8 = hour.parse().ok()?;
    (hour < 24 && minute < 60).then(|| format!("{minute} {hour} * * {days}"))
}

fn weekday_number(day: &str) -> Option<&'static str> {
    Some(match day {
        "sun" => "0",
        "mon" => "1",
        "tue" => "2",
        "wed" => "3",
        "thu" => "4",
        "fri" => "5",
        "sat" => "6",
        _ => return None,
    })
}

fn backups_of(info: &Value) -> Vec<CoreBackup> {
    let Some(backups) = info["backups"].as_array() else {
        return Vec::new();
    };
    backups
        .iter()
        .filter_map(|b| {
            let agents = b["agents"].as_object();
            Some(CoreBackup {
                id: b["backup_id"].as_str()?.to_owned(),
                name: b["name"].as_str().unwrap_or("backup").to_owned(),
                date: b["date"].as_str()?.parse().ok()?,
                size: agents
                    .and_then(|a| a.values().filter_map(|s| s["size"].as_u64()).max())
                    .or_else(|| b["size"].as_u64()),
                agents: agents
                    .map(|a| a.keys().cloned().collect())
                    .unwrap_or_default(),
                failed_agents: b["failed_agent_ids"]
                    .as_array()
                    .map(|ids| {
                        ids.iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                automatic: b["with_automatic_settings"] == true,
            })
        })
        .collect()
}

/// An automatic backup attempted after the last one that completed, and none running.
fn missed_automatic(info: &Value) -> Option<Timestamp> {
    let attempted: Timestamp = info["last_attempted_automatic_backup"]
        .as_str()?
        .parse()
        .ok()?;
    let completed: Option<Timestamp> = info["last_completed_automatic_backup"]
        .as_str()
        .and_then(|t| t.parse().ok());
    let running = info["state"] == "create_backup";
    (!running && completed.is_none_or(|c| c < attempted)).then_some(attempted)
}

/// Core's reason codes (`CreateBackupEvent.reason`), in words.
pub fn reason_in_words(code: Option<&str>) -> String {
    match code {
        Some("upload_failed") => {
            "the backup could not be uploaded to its locations (see Settings → System → Backups)"
                .into()
        }
        Some("backup_agent_unreachable") => "a backup location could not be reached".into(),
        Some("backup_manager_error") => {
            "Home Assistant's backup manager could not make the backup (its log says why)".into()
        }
        Some("backup_reader_writer_error") => "the backup could not be written".into(),
        Some("backup_agent_error") => "a backup location refused the backup".into(),
        Some("password_incorrect") => "the backup's encryption key was refused".into(),
        Some("unknown_error") | None => {
            "the backup failed with an unexpected error (Home Assistant's log says why)".into()
        }
        Some(other) => format!("the backup failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_schedule_becomes_a_cron_expression() {
        let daily = json!({"schedule": {"recurrence": "daily", "time": "04:45:00", "days": []}});
        assert_eq!(schedule_of(&daily).as_deref(), Some("45 4 * * *"));
        let chosen_by_core = json!({"schedule": {"recurrence": "custom_days", "time": null,
            "days": ["mon", "thu"]}, "next_automatic_backup": "2026-12-07T05:12:33.102+01:00"});
        assert_eq!(
            schedule_of(&chosen_by_core).as_deref(),
            Some("12 5 * * 1,4")
        );
        let never = json!({"schedule": {"recurrence": "never", "time": null, "days": []}});
        assert_eq!(schedule_of(&never), None);
    }

    #[test]
    fn a_listed_backup_has_its_size_where_it_is_stored_and_how_it_was_made() {
        let info = json!({"backups": [{"backup_id": "abc123", "name": "Automatic backup 2026.11.0",
            "date": "2026-12-05T04:45:12.345+00:00",
            "agents": {"backup.local": {"protected": false, "size": 1048576},
                       "cloud.cloud": {"protected": true, "size": 1048600}},
            "failed_agent_ids": ["hassio.nas"], "with_automatic_settings": true}]});
        let backups = backups_of(&info);
        assert_eq!(backups.len(), 1);
        let b = &backups[0];
        assert_eq!(b.size, Some(1_048_600));
        assert_eq!(b.agents, ["backup.local", "cloud.cloud"]);
        assert_eq!(b.failed_agents, ["hassio.nas"]);
        assert!(b.automatic);
    }

    #[test]
    fn an_attempt_after_the_last_completed_automatic_backup_was_missed() {
        let missed = json!({"last_attempted_automatic_backup": "2026-12-05T04:45:00+00:00",
            "last_completed_automatic_backup": "2026-12-04T04:50:00+00:00", "state": "idle"});
        assert!(missed_automatic(&missed).is_some());
        let fine = json!({"last_attempted_automatic_backup": "2026-12-05T04:45:00+00:00",
            "last_completed_automatic_backup": "2026-12-05T04:50:00+00:00", "state": "idle"});
        assert_eq!(missed_automatic(&fine), None);
        let running = json!({"last_attempted_automatic_backup": "2026-12-05T04:45:00+00:00",
            "last_completed_automatic_backup": null, "state": "create_backup"});
        assert_eq!(missed_automatic(&running), None);
    }
}

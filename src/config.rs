//! Settings: embedded defaults, then the add-on options (`options.json` in the data
//! directory, written by the Supervisor), then `KOPIA_WEBHOOK_*` environment variables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{
    Grace, HeartbeatUrl, HistoryLimit, MaintenanceWindow, MonitorName, NewMonitor, NoSuccessAlert,
    ParseError, Schedule, ShrinkRule, WebhookId, parse_period_or_off,
};

pub const ENV_PREFIX: &str = "KOPIA_WEBHOOK_";
/// The webhook port as `config.yaml` declares it (`ports: 8098/tcp`); the Supervisor maps
/// this container port to a host port of the user's choice.
pub const ADDON_WEBHOOK_PORT: u16 = 8098;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Options { path: PathBuf, reason: String },
}

fn invalid(name: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.to_string(),
    }
}

/// Where Home Assistant Core's REST API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Without the `/api` suffix: `http://supervisor/core` or `http://127.0.0.1:8123`.
    pub url: String,
    pub token: SecretString,
}

#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    pub url: String,
    pub token: SecretString,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// `KOPIA_WEBHOOK_MQTT_URL`: a broker of one's own (local runs, tests); in the add-on
    /// the Supervisor says where Mosquitto is.
    pub mqtt: Option<BrokerSettings>,
    /// Webhook listener, reached by backup tools on the LAN.
    pub webhook_listen: SocketAddr,
    /// Ingress UI listener, reached only through the Supervisor.
    pub ui_listen: SocketAddr,
    /// The only peer allowed on the UI listener (the Supervisor's ingress proxy); `None`
    /// without a Supervisor (and no `KOPIA_WEBHOOK_TRUSTED_PROXY`): a standalone engine's
    /// panel is loopback's, or the integration's through its key.
    pub trusted_proxy: Option<IpAddr>,
    /// Local runs (no Supervisor) also let loopback peers open the panel.
    pub allow_loopback_ui: bool,
    /// `None`: no Home Assistant to push to (a local run without a token).
    pub core: Option<CoreSettings>,
    pub supervisor: Option<SupervisorSettings>,
    /// How often to check that Core still has the add-on's entities (it forgets them when
    /// it restarts). `KOPIA_WEBHOOK_RECONCILE_SECS`, default 60.
    pub reconcile_every: std::time::Duration,
    /// Sustained authenticated reports per second per monitor (`KOPIA_WEBHOOK_RATE_PER_SEC`, 100).
    pub rate_per_second: std::num::NonZeroU32,
    /// Reports a monitor may send at once (`KOPIA_WEBHOOK_RATE_BURST`, 1000).
    pub rate_burst: std::num::NonZeroU32,
    /// The database grows no larger (`KOPIA_WEBHOOK_DATABASE_LIMIT_MB`); unlimited by default.
    pub database_limit_bytes: Option<u64>,
    pub options: AddonOptions,
}

/// How entities reach Home Assistant (the `entities` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntitiesMode {
    /// MQTT discovery when a broker is available, else REST states.
    #[default]
    Auto,
    Mqtt,
    Rest,
}

/// An MQTT broker: from the Supervisor (`/services/mqtt`) or `KOPIA_WEBHOOK_MQTT_URL`.
#[derive(Clone)]
pub struct BrokerSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The broker wants TLS (this build speaks plain MQTT only).
    pub tls: bool,
}

impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl BrokerSettings {
    /// `mqtt://user:pass@host:1883` (`mqtts://` is refused with a reason).
    pub fn from_url(text: &str) -> Result<Self, ConfigError> {
        let name = "KOPIA_WEBHOOK_MQTT_URL";
        let url = url::Url::parse(text.trim())
            .map_err(|e| invalid(name, format!("{e}; use mqtt://user:password@host:1883")))?;
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => {
                return Err(invalid(
                    name,
                    format!("{other}:// is not MQTT; use mqtt://user:password@host:1883"),
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid(name, "it has no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Ok(Self {
            host,
            port: url.port().unwrap_or(if tls { 8883 } else { 1883 }),
            username: Some(decode(url.username())).filter(|u| !u.is_empty()),
            password: url.password().map(|p| SecretString::from(decode(p))),
            tls,
        })
    }
}

/// The add-on options, as the Supervisor validated them against `config.yaml`'s schema.
#[derive(Debug, Clone)]
pub struct AddonOptions {
    pub entities: EntitiesMode,
    /// A persistent notification in Home Assistant while a monitor has a problem.
    pub problem_notifications: bool,
    pub log_level: String,
    pub history_limit: HistoryLimit,
    pub retention_days: u32,
    /// Overrides the scheme, host and port of the webhook URLs shown to the user.
    pub webhook_base_url: Option<String>,
    /// Zone for senders' times that carry none.
    pub timezone: TimeZone,
    pub timezone_name: String,
    /// Monitors declared in the options; a broken entry is reported and skipped, so one
    /// typo does not stop every other monitor.
    pub monitors: Vec<Result<NewMonitor, String>>,
    /// Options that were not valid and were replaced by a default: logged as errors once
    /// logging is set up.
    pub problems: Vec<String>,
    /// Where the add-on says it is alive, and whether all is well (`heartbeat_url`).
    pub heartbeat: Option<HeartbeatSettings>,
}

/// The `heartbeat_url` and `heartbeat_minutes` options.
#[derive(Debug, Clone)]
pub struct HeartbeatSettings {
    pub url: HeartbeatUrl,
    pub every: std::time::Duration,
}

impl HeartbeatSettings {
    pub const DEFAULT_MINUTES: u64 = 5;
}

/// One entry of the `monitors` option, as the Supervisor passes it on.
#[derive(Debug, Deserialize)]
struct DeclaredMonitor {
    name: String,
    webhook_id: String,
    #[serde(default)]
    history_limit: Option<i64>,
    #[serde(default)]
    secret: Option<String>,
    /// A period (`1d`) or a five-field cron expression in the `timezone` option's zone.
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    grace: Option<String>,
    /// A drop of more than this many percent is a warning (0: off).
    #[serde(default)]
    shrink_percent: Option<i64>,
    #[serde(default)]
    shrink_runs: Option<i64>,
    /// `auto`, `off` or a period such as `3d`.
    #[serde(default)]
    no_success_after: Option<String>,
    #[serde(default)]
    unusual_durations: Option<bool>,
    /// A maintenance window's start, a cron expression in the `timezone` option's zone; it
    /// lasts `maintenance_for`.
    #[serde(default)]
    maintenance: Option<String>,
    #[serde(default)]
    maintenance_for: Option<String>,
    /// `off` (default) or a period such as `7d`.
    #[serde(default)]
    not_verified_after: Option<String>,
}

impl DeclaredMonitor {
    fn parse(self, default_limit: HistoryLimit, zone_name: &str) -> Result<NewMonitor, String> {
        let context = |e: ParseError| format!("monitor {:?} in the add-on options: {e}", self.name);
        let secret = match self
            .secret
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) if s.chars().count() < 8 => {
                return Err(context(ParseError::new(
                    "a secret needs at least 8 characters",
                )));
            }
            other => other.map(|s| SecretString::from(s.to_owned())),
        };
        Ok(NewMonitor {
            slug: None,
            unseen: false,
            name: MonitorName::parse(&self.name).map_err(context)?,
            webhook_id: WebhookId::parse(self.webhook_id.trim()).map_err(context)?,
            history_limit: self
                .history_limit
                .map_or(Ok(default_limit), HistoryLimit::parse)
                .map_err(context)?,
            secret,
            schedule: self
                .schedule
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| Schedule::from_text(s, zone_name))
                .transpose()
                .map_err(context)?,
            grace: self
                .grace
                .as_deref()
                .filter(|g| !g.trim().is_empty())
                .map_or(Ok(Grace::DEFAULT), Grace::parse)
                .map_err(context)?,
            shrink: ShrinkRule::new(
                self.shrink_percent.unwrap_or(ShrinkRule::DEFAULT.percent()),
                self.shrink_runs.unwrap_or(ShrinkRule::DEFAULT.runs()),
            )
            .map_err(context)?,
            no_success: NoSuccessAlert::parse(self.no_success_after.as_deref().unwrap_or(""))
                .map_err(context)?,
            unusual_durations: self.unusual_durations.unwrap_or(true),
            maintenance: self.maintenance_window(zone_name).map_err(context)?,
            not_verified_after: parse_period_or_off(
                self.not_verified_after.as_deref().unwrap_or(""),
                "not_verified_after",
            )
            .map_err(context)?,
        })
    }

    /// `maintenance` with `maintenance_for`: both, or neither.
    fn maintenance_window(&self, zone_name: &str) -> Result<Option<MaintenanceWindow>, ParseError> {
        let given = |field: &Option<String>| {
            field
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        match (given(&self.maintenance), given(&self.maintenance_for)) {
            (None, None) => Ok(None),
            (Some(cron), Some(length)) => {
                MaintenanceWindow::parse(&cron, zone_name, &length).map(Some)
            }
            (Some(_), None) => Err(ParseError::new(
                "maintenance needs maintenance_for, how long the window lasts (such as 3h)",
            )),
            (None, Some(_)) => Err(ParseError::new(
                "maintenance_for needs maintenance, when the window opens (a cron expression such as 0 2 * * 6)",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawOptions {
    entities: String,
    problem_notifications: bool,
    log_level: String,
    history_limit: i64,
    retention_days: i64,
    webhook_base_url: Option<String>,
    timezone: Option<String>,
    monitors: Vec<serde_json::Value>,
    heartbeat_url: Option<String>,
    heartbeat_minutes: Option<i64>,
}

impl Default for RawOptions {
    fn default() -> Self {
        Self {
            entities: "auto".into(),
            problem_notifications: false,
            log_level: "info".into(),
            history_limit: HistoryLimit::default().get() as i64,
            retention_days: 365,
            webhook_base_url: None,
            timezone: None,
            monitors: Vec::new(),
            heartbeat_url: None,
            heartbeat_minutes: None,
        }
    }
}

impl Settings {
    /// Reads the process environment (and `options.json` in the data directory).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Builds settings from an environment lookup, so tests need not touch the real one.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |suffix: &str| env(&format!("{ENV_PREFIX}{suffix}"));
        let supervisor_token = env("SUPERVISOR_TOKEN").map(SecretString::from);
        let in_addon = supervisor_token.is_some();

        let data_dir = var("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| {
            if in_addon {
                PathBuf::from("/data")
            } else {
                PathBuf::from("./data")
            }
        });
        let webhook_listen = parse_addr(
            "LISTEN",
            var("LISTEN"),
            &format!("0.0.0.0:{ADDON_WEBHOOK_PORT}"),
        )?;
        let default_ui = if in_addon {
            "0.0.0.0:8099"
        } else {
            "127.0.0.1:8099"
        };
        let ui_listen = parse_addr("UI_LISTEN", var("UI_LISTEN"), default_ui)?;
        let trusted_proxy = match var("TRUSTED_PROXY") {
            Some(ip) => Some(
                ip.parse()
                    .map_err(|e| invalid("KOPIA_WEBHOOK_TRUSTED_PROXY", e))?,
            ),
            None => in_addon.then_some(IpAddr::V4(Ipv4Addr::new(172, 30, 32, 2))),
        };

        let (supervisor, core) = home_assistant(&var, supervisor_token)?;

        let reconcile_secs: u64 = match var("RECONCILE_SECS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .ok_or_else(|| {
                    invalid(
                        "KOPIA_WEBHOOK_RECONCILE_SECS",
                        "use a number of seconds from 1 to 3600",
                    )
                })?,
            None => 60,
        };
        let positive = |name: &str, default: u32| -> Result<std::num::NonZeroU32, ConfigError> {
            match var(name) {
                None => Ok(std::num::NonZeroU32::new(default).unwrap_or(std::num::NonZeroU32::MIN)),
                Some(v) => v.parse().map_err(|_| {
                    invalid(&format!("{ENV_PREFIX}{name}"), "use a whole number above 0")
                }),
            }
        };
        let rate_per_second = positive("RATE_PER_SEC", 100)?;
        let rate_burst = positive("RATE_BURST", 1000)?;
        let database_limit_bytes = var("DATABASE_LIMIT_MB")
            .map(|mb| {
                mb.parse::<u64>()
                    .ok()
                    .filter(|mb| *mb >= 1)
                    .map(|mb| mb * 1024 * 1024)
                    .ok_or_else(|| {
                        invalid(
                            "KOPIA_WEBHOOK_DATABASE_LIMIT_MB",
                            "use a whole number of megabytes, 1 or more",
                        )
                    })
            })
            .transpose()?;
        let mut raw = read_options(&data_dir.join("options.json"))?;
        overridden_by_env(&mut raw, &var)?;
        let mqtt = var("MQTT_URL")
            .map(|url| BrokerSettings::from_url(&url))
            .transpose()?;
        let options = AddonOptions::from_raw(raw, env("TZ"))?;

        Ok(Self {
            data_dir,
            mqtt,
            webhook_listen,
            ui_listen,
            trusted_proxy,
            allow_loopback_ui: !in_addon,
            core,
            supervisor,
            reconcile_every: std::time::Duration::from_secs(reconcile_secs),
            rate_per_second,
            rate_burst,
            database_limit_bytes,
            options,
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("kopia_webhook.db")
    }

    /// The consistent copy Home Assistant backups take (`backup_pre` in config.yaml).
    pub fn snapshot_path(&self) -> PathBuf {
        self.data_dir.join("kopia_webhook.backup.db")
    }
}

impl AddonOptions {
    fn from_raw(raw: RawOptions, tz_env: Option<String>) -> Result<Self, ConfigError> {
        let history_limit = HistoryLimit::parse(raw.history_limit)
            .map_err(|ParseError(e)| invalid("history_limit", e))?;
        let retention_days = u32::try_from(raw.retention_days)
            .ok()
            .filter(|d| (1..=36_500).contains(d))
            .ok_or_else(|| invalid("retention_days", "use a number of days from 1 to 36500"))?;
        let webhook_base_url = raw
            .webhook_base_url
            .filter(|u| !u.trim().is_empty())
            .map(|u| check_http_url("webhook_base_url", &u))
            .transpose()?;
        let mut problems = Vec::new();
        let from_tz = || {
            tz_env
                .as_deref()
                .and_then(|name| TimeZone::get(name).ok().map(|z| (z, name.to_owned())))
                .unwrap_or_else(|| (TimeZone::UTC, "UTC".to_owned()))
        };
        // A typo here must not stop the add-on (nor `backup_pre`, which would make Home
        // Assistant's backups fail): it is reported and Home Assistant's zone is used.
        let (timezone, timezone_name) = match raw.timezone.filter(|t| !t.trim().is_empty()) {
            Some(name) => match TimeZone::get(name.trim()) {
                Ok(zone) => (zone, name.trim().to_owned()),
                Err(_) => {
                    let fallback = from_tz();
                    problems.push(format!(
                        "the timezone option {name:?} is not an IANA time zone such as Europe/Berlin; using {} until it is fixed",
                        fallback.1
                    ));
                    fallback
                }
            },
            None => from_tz(),
        };
        let monitors = raw
            .monitors
            .into_iter()
            .map(|value| {
                serde_json::from_value::<DeclaredMonitor>(value)
                    .map_err(|e| format!("a monitor in the add-on options is not valid: {e}"))
                    .and_then(|declared| declared.parse(history_limit, &timezone_name))
            })
            .collect();
        let heartbeat = match raw.heartbeat_url.filter(|u| !u.trim().is_empty()) {
            None => None,
            // A typo must not stop the add-on: said, and no heartbeat until it is fixed (so
            // the service behind the URL notices).
            Some(text) => match HeartbeatUrl::parse(&text) {
                Ok(url) => Some(HeartbeatSettings {
                    url,
                    every: std::time::Duration::from_secs(
                        60 * raw
                            .heartbeat_minutes
                            .filter(|m| (1..=1440).contains(m))
                            .map_or(HeartbeatSettings::DEFAULT_MINUTES, |m| m as u64),
                    ),
                }),
                Err(ParseError(e)) => {
                    problems.push(format!("heartbeat_url: {e}; no heartbeat is sent"));
                    None
                }
            },
        };
        let entities = match raw.entities.as_str() {
            "mqtt" => EntitiesMode::Mqtt,
            "rest" => EntitiesMode::Rest,
            _ => EntitiesMode::Auto,
        };
        Ok(Self {
            entities,
            problem_notifications: raw.problem_notifications,
            monitors,
            problems,
            log_level: raw.log_level,
            history_limit,
            retention_days,
            webhook_base_url,
            timezone,
            timezone_name,
            heartbeat,
        })
    }

    /// A `tracing` filter directive for the `log_level` option.
    pub fn tracing_filter(&self) -> &'static str {
        match self.log_level.as_str() {
            "trace" => "trace",
            "debug" => "debug",
            "warning" | "warn" => "warn",
            "error" | "fatal" => "error",
            _ => "info",
        }
    }
}

/// The environment's overrides of the add-on options (`KOPIA_WEBHOOK_LOG_LEVEL`…).
fn overridden_by_env(
    raw: &mut RawOptions,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(v) = var("LOG_LEVEL") {
        raw.log_level = v;
    }
    if let Some(v) = var("HISTORY_LIMIT") {
        raw.history_limit = v
            .parse()
            .map_err(|e| invalid("KOPIA_WEBHOOK_HISTORY_LIMIT", e))?;
    }
    if let Some(v) = var("RETENTION_DAYS") {
        raw.retention_days = v
            .parse()
            .map_err(|e| invalid("KOPIA_WEBHOOK_RETENTION_DAYS", e))?;
    }
    if let Some(v) = var("WEBHOOK_BASE_URL") {
        raw.webhook_base_url = Some(v);
    }
    if let Some(v) = var("TIMEZONE") {
        raw.timezone = Some(v);
    }
    if let Some(v) = var("HEARTBEAT_URL") {
        raw.heartbeat_url = Some(v);
    }
    if let Some(v) = var("HEARTBEAT_MINUTES") {
        raw.heartbeat_minutes = Some(
            v.parse()
                .map_err(|e| invalid("KOPIA_WEBHOOK_HEARTBEAT_MINUTES", e))?,
        );
    }
    if let Some(v) = var("ENTITIES") {
        if !matches!(v.as_str(), "auto" | "mqtt" | "rest") {
            return Err(invalid("KOPIA_WEBHOOK_ENTITIES", "use auto, mqtt or rest"));
        }
        raw.entities = v;
    }
    if let Some(v) = var("PROBLEM_NOTIFICATIONS") {
        raw.problem_notifications = match v.as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                return Err(invalid(
                    "KOPIA_WEBHOOK_PROBLEM_NOTIFICATIONS",
                    "use true or false",
                ));
            }
        };
    }
    Ok(())
}

/// The Supervisor (from its token) and the Core to push to: `KOPIA_WEBHOOK_CORE_URL` and
/// `_TOKEN`, else Core through the Supervisor's proxy.
fn home_assistant(
    var: &impl Fn(&str) -> Option<String>,
    supervisor_token: Option<SecretString>,
) -> Result<(Option<SupervisorSettings>, Option<CoreSettings>), ConfigError> {
    let supervisor_url = var("SUPERVISOR_URL").unwrap_or_else(|| "http://supervisor".into());
    let supervisor = supervisor_token.map(|token| SupervisorSettings {
        url: supervisor_url.trim_end_matches('/').to_owned(),
        token,
    });
    let core = match (var("CORE_URL"), var("CORE_TOKEN")) {
        (Some(url), Some(token)) => Some(CoreSettings {
            url: check_http_url("KOPIA_WEBHOOK_CORE_URL", &url)?,
            token: SecretString::from(token),
        }),
        (Some(_), None) => {
            return Err(invalid(
                "KOPIA_WEBHOOK_CORE_URL",
                "it needs KOPIA_WEBHOOK_CORE_TOKEN too (a long-lived access token from your Home Assistant profile)",
            ));
        }
        (None, _) => supervisor.as_ref().map(|s| CoreSettings {
            url: format!("{}/core", s.url),
            token: s.token.clone(),
        }),
    };

    Ok((supervisor, core))
}

fn read_options(path: &Path) -> Result<RawOptions, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RawOptions::default()),
        Err(e) => {
            return Err(ConfigError::Options {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text).map_err(|e| ConfigError::Options {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn parse_addr(name: &str, value: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    value.as_deref().unwrap_or(default).parse().map_err(|e| {
        invalid(
            &format!("{ENV_PREFIX}{name}"),
            format!("{e}; use an address such as 0.0.0.0:8098"),
        )
    })
}

fn check_http_url(name: &str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| invalid(name, format!("{url:?} must start with http:// or https://")))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(invalid(name, format!("{url:?} has no host")));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(|k| vars.get(k).cloned())
    }

    #[test]
    fn local_defaults_need_no_environment() {
        let s = load(&[("KOPIA_WEBHOOK_DATA_DIR", "/nonexistent")]).unwrap();
        assert_eq!(s.webhook_listen.to_string(), "0.0.0.0:8098");
        assert_eq!(s.ui_listen.to_string(), "127.0.0.1:8099");
        assert!(s.core.is_none());
        assert!(s.allow_loopback_ui);
        assert_eq!(s.options.history_limit.get(), 10);
        assert_eq!(
            s.trusted_proxy, None,
            "without a Supervisor no address is trusted as its proxy"
        );
    }

    #[test]
    fn the_supervisor_token_selects_the_supervisor_proxy() {
        let s = load(&[
            ("SUPERVISOR_TOKEN", "abc"),
            ("KOPIA_WEBHOOK_DATA_DIR", "/nonexistent"),
        ])
        .unwrap();
        let core = s.core.unwrap();
        assert_eq!(core.url, "http://supervisor/core");
        assert_eq!(core.token.expose_secret(), "abc");
        assert_eq!(s.ui_listen.to_string(), "0.0.0.0:8099");
        assert!(!s.allow_loopback_ui);
        assert_eq!(
            s.trusted_proxy.map(|ip| ip.to_string()).as_deref(),
            Some("172.30.32.2")
        );
    }

    #[test]
    fn options_json_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("options.json"),
            r#"{"log_level":"debug","history_limit":20,"retention_days":30,"timezone":"Europe/Berlin",
                "problem_notifications":true,
                "monitors":[{"name":"NAS","webhook_id":"nas-backup-webhook-1","schedule":"0 3 * * *","grace":"2h",
                             "no_success_after":"3d","shrink_percent":30,"shrink_runs":10},
                            {"name":"Bad","webhook_id":"short"},
                            {"name":"Window","webhook_id":"window-webhook-id-1","maintenance":"0 2 * * 6",
                             "maintenance_for":"3h","not_verified_after":"7d"},
                            {"name":"Half a window","webhook_id":"window-webhook-id-2","maintenance":"0 2 * * 6"}]}"#,
        )
        .unwrap();
        let data = dir.path().to_str().unwrap();
        let s = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", data),
            ("KOPIA_WEBHOOK_HISTORY_LIMIT", "7"),
        ])
        .unwrap();
        assert_eq!(s.options.history_limit.get(), 7);
        assert_eq!(s.options.retention_days, 30);
        assert_eq!(s.options.timezone_name, "Europe/Berlin");
        assert_eq!(s.options.tracing_filter(), "debug");
        let declared = &s.options.monitors;
        assert_eq!(declared.len(), 4);
        let nas = declared[0].as_ref().unwrap();
        assert_eq!(nas.history_limit.get(), 7, "the default limit applies");
        assert_eq!(
            nas.schedule.as_ref().unwrap().to_json(),
            serde_json::json!({"cron": "0 3 * * *", "tz": "Europe/Berlin"})
        );
        assert_eq!(nas.grace.as_secs(), 7200);
        assert_eq!(nas.no_success.to_text(), "3d");
        assert_eq!((nas.shrink.percent(), nas.shrink.runs()), (30, 10));
        assert!(s.options.problem_notifications);
        assert!(declared[1].as_ref().unwrap_err().contains("\"Bad\""));
        let window = declared[2].as_ref().unwrap();
        assert_eq!(
            window.maintenance.as_ref().map(|w| w.to_json()),
            Some(serde_json::json!({"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for": "3h"}))
        );
        assert_eq!(
            window.not_verified_after,
            Some(jiff::SignedDuration::from_hours(7 * 24))
        );
        assert_eq!(nas.maintenance.as_ref().map(|w| w.to_json()), None);
        assert_eq!(nas.not_verified_after, None);
        let half = declared[3].as_ref().unwrap_err();
        assert!(half.contains("maintenance needs maintenance_for"), "{half}");
    }

    #[test]
    fn a_misspelled_timezone_falls_back_to_home_assistants_and_says_so() {
        let s = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", "/x"),
            ("KOPIA_WEBHOOK_TIMEZONE", "Europe/Berln"),
            ("TZ", "Europe/Paris"),
        ])
        .expect("a typo in the timezone does not stop the add-on");
        assert_eq!(s.options.timezone_name, "Europe/Paris");
        assert_eq!(s.options.problems.len(), 1);
        assert!(
            s.options.problems[0].contains("Europe/Berln"),
            "{:?}",
            s.options.problems
        );
    }

    #[test]
    fn the_heartbeat_takes_its_url_and_period_and_a_broken_url_is_said_without_it() {
        let s = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", "/x"),
            ("KOPIA_WEBHOOK_HEARTBEAT_URL", "https://hc-ping.com/uuid-1"),
            ("KOPIA_WEBHOOK_HEARTBEAT_MINUTES", "15"),
        ])
        .unwrap();
        let heartbeat = s.options.heartbeat.unwrap();
        assert_eq!(heartbeat.every, std::time::Duration::from_secs(15 * 60));
        let s = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", "/x"),
            ("KOPIA_WEBHOOK_HEARTBEAT_URL", "hc-ping.com/secret-uuid"),
        ])
        .expect("a broken heartbeat URL does not stop the add-on");
        assert!(s.options.heartbeat.is_none());
        assert_eq!(s.options.problems.len(), 1);
        assert!(
            !s.options.problems[0].contains("secret-uuid"),
            "{:?}",
            s.options.problems
        );
    }

    #[test]
    fn mqtt_urls_give_host_port_and_credentials() {
        let b = BrokerSettings::from_url("mqtt://homeassistant:p%40ss@127.0.0.1:18883").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 18883));
        assert_eq!(b.username.as_deref(), Some("homeassistant"));
        assert_eq!(
            b.password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .as_deref(),
            Some("p@ss")
        );
        assert_eq!(
            BrokerSettings::from_url("mqtt://broker").unwrap().port,
            1883
        );
        assert!(BrokerSettings::from_url("http://broker").is_err());
        assert!(
            !format!("{b:?}").contains("p@ss"),
            "credentials never print"
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", "/x"),
            ("KOPIA_WEBHOOK_HISTORY_LIMIT", "99"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("history_limit"), "{err}");
        let err = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", "/x"),
            ("KOPIA_WEBHOOK_CORE_URL", "http://h:8123"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("KOPIA_WEBHOOK_CORE_TOKEN"),
            "{err}"
        );
        let err = load(&[
            ("KOPIA_WEBHOOK_DATA_DIR", "/x"),
            ("KOPIA_WEBHOOK_LISTEN", "nope"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("KOPIA_WEBHOOK_LISTEN"), "{err}");
    }
}

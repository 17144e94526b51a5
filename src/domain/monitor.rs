use std::fmt;

use base64::Engine as _;
use jiff::Timestamp;
use secrecy::SecretString;

use super::{Grace, NoSuccessAlert, ParseError, Schedule, ShrinkRule};

/// The secret part of a webhook URL: 128 random bits, or a user's choice of at least 16
/// URL-safe characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WebhookId(String);

impl WebhookId {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 128;

    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(ParseError::new(format!(
                "a webhook ID must be {} to {} characters long (this one has {len}); leave it empty to get a random one",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ParseError::new(
                "a webhook ID may only contain letters, digits, '-' and '_'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// An ID that is already in use somewhere: one stored, one a URL names, or one the
    /// replaced Home Assistant integration registered (its IDs were words of any length,
    /// `nas_backup`). Only new choices must be 16 characters.
    pub fn existing(raw: &str) -> Result<Self, ParseError> {
        let len = raw.chars().count();
        if !(1..=Self::MAX_LEN).contains(&len) {
            return Err(ParseError::new(format!(
                "a webhook ID must be 1 to {} characters long (this one has {len})",
                Self::MAX_LEN
            )));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ParseError::new(
                "a webhook ID may only contain letters, digits, '-' and '_'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A chosen ID that does not mix upper case, lower case and digits, or repeats a few
    /// characters, is probably words and guessable: accepted, but worth a warning, since the
    /// ID is all that protects a webhook without a secret.
    pub fn looks_weak(&self) -> bool {
        let s = self.0.as_str();
        let distinct: std::collections::HashSet<char> = s.chars().collect();
        distinct.len() < 10
            || !s.chars().any(|c| c.is_ascii_uppercase())
            || !s.chars().any(|c| c.is_ascii_lowercase())
            || !s.chars().any(|c| c.is_ascii_digit())
    }

    /// The first characters followed by an ellipsis: safe to log and to show in lists.
    pub fn masked(&self) -> String {
        let head: String = self.0.chars().take(4).collect();
        format!("{head}…")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// IDs are secrets: debug output never shows them whole.
impl fmt::Debug for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookId({})", self.masked())
    }
}

/// A Healthchecks-style slug (`nas-photos`): what a tool names a monitor in
/// `/ping/<ping key>/<slug>`. Lower-case letters, digits, `-` and `_`, as Healthchecks has it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

/// A placeholder of the documentation (`<job>`, `<id>`) left in a pasted URL, as sent
/// (percent-encoded by most tools): what it says, if `segment` is one.
pub fn placeholder_in(segment: &str) -> Option<String> {
    let decoded = segment
        .replace("%3C", "<")
        .replace("%3E", ">")
        .replace("%3c", "<")
        .replace("%3e", ">");
    let start = decoded.find('<')?;
    let end = decoded[start..].find('>')? + start;
    Some(decoded[start..=end].chars().take(20).collect())
}

impl Slug {
    pub const MAX_LEN: usize = 64;

    /// Capitals are the same slug (`Nas-Photos` is `nas-photos`): people type them.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if let Some(placeholder) = placeholder_in(raw) {
            return Err(ParseError::new(format!(
                "the URL still holds the placeholder {placeholder}: put the job's name there \
                 (lower-case letters, digits, '-' or '_', e.g. nas-photos)"
            )));
        }
        let raw = raw.to_ascii_lowercase();
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(raw))
        } else {
            Err(ParseError::new(format!(
                "invalid url format: a slug is 1 to {} lower-case letters, digits, '-' or '_'",
                Self::MAX_LEN
            )))
        }
    }

    /// `server_one` -> `server-one`.
    pub fn of_key(key: &MonitorKey) -> Self {
        Self(key.as_str().replace('_', "-"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The add-on-wide key of slug URLs: 22 lower-case URL-safe characters, like Healthchecks'.
#[derive(Clone, PartialEq, Eq)]
pub struct PingKey(String);

impl PingKey {
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bytes = [0u8; 22];
        getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
        // 38 symbols; the modulo bias is small and the key still has over 110 bits.
        Self(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect(),
        )
    }

    /// A stored key; anything else stored is replaced at start.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 22
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_owned()))
    }

    /// Constant time: the key is a secret.
    pub fn matches(&self, candidate: &str) -> bool {
        key_matches(&self.0, candidate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        masked_key(&self.0)
    }
}

impl fmt::Debug for PingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PingKey({})", self.masked())
    }
}

/// Compares a secret key in constant time.
fn key_matches(key: &str, candidate: &str) -> bool {
    use subtle::ConstantTimeEq;
    key.len() == candidate.len() && bool::from(key.as_bytes().ct_eq(candidate.as_bytes()))
}

/// A key's first four characters: safe to log (keys are ASCII, so the slice is whole).
fn masked_key(key: &str) -> String {
    format!("{}…", &key[..4])
}

/// The key the companion Home Assistant integration presents: 256 random bits, URL-safe.
/// It reaches the add-on's relay and monitor list, so it is a secret like a webhook ID.
#[derive(Clone, PartialEq, Eq)]
pub struct IntegrationKey(String);

impl IntegrationKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A stored key; anything else stored is replaced at start.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_owned()))
    }

    /// Constant time: the key is a secret.
    pub fn matches(&self, candidate: &str) -> bool {
        key_matches(&self.0, candidate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        masked_key(&self.0)
    }
}

impl fmt::Debug for IntegrationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntegrationKey({})", self.masked())
    }
}

/// What a person calls a monitor ("Server One").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorName(String);

impl MonitorName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ParseError::new(
                "the name is empty: give the monitor a name such as \"NAS photos\"",
            ));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(ParseError::new(format!(
                "the name is longer than {} characters",
                Self::MAX_CHARS
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(ParseError::new("the name contains control characters"));
        }
        if !name.chars().any(|c| c.is_alphanumeric()) {
            return Err(ParseError::new(
                "the name needs at least one letter or digit",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The slug of a monitor's name, used in entity IDs (`sensor.kopia_{key}`) and URLs:
/// lowercase ASCII letters, digits and single underscores, never at either end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonitorKey(String);

impl MonitorKey {
    pub const MAX_LEN: usize = 48;

    /// `Server One` -> `server_one`; accents are dropped to their base letter where simple.
    pub fn from_name(name: &MonitorName) -> Self {
        let mut key = String::new();
        for c in name.as_str().chars().flat_map(char::to_lowercase) {
            let c = fold_accent(c);
            if c.is_ascii_alphanumeric() {
                key.push(c);
            } else if !key.is_empty() && !key.ends_with('_') {
                key.push('_');
            }
            if key.len() >= Self::MAX_LEN {
                break;
            }
        }
        let key = key.trim_end_matches('_');
        if key.is_empty() {
            // A name made only of non-Latin letters still needs an entity ID.
            return Self("monitor".to_owned());
        }
        // Entity IDs start with `kopia_` already: "Kopia NAS" is `sensor.kopia_nas`, not
        // `sensor.kopia_kopia_nas`.
        let key = key.strip_prefix("kopia_").unwrap_or(key);
        Self(key.to_owned())
    }

    /// `server_one` + 2 -> `server_one_2`, used when the slug is taken.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("_{n}");
        let mut base = self.0.clone();
        base.truncate(Self::MAX_LEN - suffix.len());
        Self(format!("{}{suffix}", base.trim_end_matches('_')))
    }

    /// Taken by the add-on's own entities (`sensor.kopia_backups`): a new monitor named
    /// "Backups" becomes `backups_2`.
    pub fn is_reserved(&self) -> bool {
        self.0 == super::OVERVIEW_KEY
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !raw.starts_with('_')
            && !raw.ends_with('_')
            && !raw.contains("__");
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(format!("no monitor is called {raw:?}")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MonitorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        'ß' => 's',
        other => other,
    }
}

/// How many runs the Home Assistant `history` attribute carries (5 to 40).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimit(u8);

impl HistoryLimit {
    pub const MIN: i64 = 5;
    pub const MAX: i64 = 40;

    pub fn parse(n: i64) -> Result<Self, ParseError> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(ParseError::new(format!(
                "history_limit must be between {} and {} (got {n})",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl Default for HistoryLimit {
    fn default() -> Self {
        Self(10)
    }
}

/// A monitor about to be created: every part already parsed.
#[derive(Debug, Clone)]
pub struct NewMonitor {
    pub name: MonitorName,
    /// `None`: the name's slug (`Server One` -> `server-one`).
    pub slug: Option<Slug>,
    /// Created by a tool through a slug URL: marked in the panel until opened.
    pub unseen: bool,
    pub webhook_id: WebhookId,
    pub history_limit: HistoryLimit,
    pub secret: Option<secrecy::SecretString>,
    pub schedule: Option<Schedule>,
    pub grace: Grace,
    pub shrink: ShrinkRule,
    pub no_success: NoSuccessAlert,
    pub unusual_durations: bool,
    pub maintenance: Option<super::MaintenanceWindow>,
    /// No passing check for this long is a problem; `None`: checks are not expected.
    pub not_verified_after: Option<jiff::SignedDuration>,
}

impl NewMonitor {
    /// A monitor with the default history length, no secret and no schedule.
    pub fn new(name: MonitorName, webhook_id: WebhookId) -> Self {
        Self {
            name,
            slug: None,
            unseen: false,
            webhook_id,
            history_limit: HistoryLimit::default(),
            secret: None,
            schedule: None,
            grace: Grace::DEFAULT,
            shrink: ShrinkRule::DEFAULT,
            no_success: NoSuccessAlert::Auto,
            unusual_durations: true,
            maintenance: None,
            not_verified_after: None,
        }
    }
}

/// Where a monitor was declared: in the panel, or in the add-on options (read-only there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Ui,
    Options,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ui => "ui",
            Self::Options => "options",
        }
    }
}

/// A monitor: one backup job (or group of jobs) reporting to one webhook URL.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub id: i64,
    pub key: MonitorKey,
    pub slug: Slug,
    /// Created by a tool through a slug URL and not yet opened in the panel.
    pub unseen: bool,
    pub name: MonitorName,
    pub webhook_id: WebhookId,
    pub secret: Option<SecretString>,
    pub history_limit: HistoryLimit,
    pub origin: Origin,
    pub created_at: Timestamp,
    pub schedule: Option<Schedule>,
    pub grace: Grace,
    /// When a successful run counts as shrunk.
    pub shrink: ShrinkRule,
    /// When going without a successful run is a problem by itself.
    pub no_success: NoSuccessAlert,
    /// A successful run far longer or shorter than usual is a warning.
    pub unusual_durations: bool,
    /// Paused until a time, and a maintenance window.
    pub pause: super::Pause,
    /// No passing check for longer than this is a problem (opt-in).
    pub not_verified_after: Option<jiff::SignedDuration>,
}

/// What an edit may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct MonitorChanges {
    pub name: Option<MonitorName>,
    pub history_limit: Option<HistoryLimit>,
    /// `Some(None)` removes the secret.
    pub secret: Option<Option<SecretString>>,
    /// `Some(None)` removes the schedule.
    pub schedule: Option<Option<Schedule>>,
    pub grace: Option<Grace>,
    pub shrink: Option<ShrinkRule>,
    pub unusual_durations: Option<bool>,
    /// `Some(None)` resumes a paused monitor.
    pub paused_until: Option<Option<Timestamp>>,
    /// `Some(None)` removes the maintenance window.
    pub maintenance: Option<Option<super::MaintenanceWindow>>,
    /// `Some(None)` turns the "not verified" alert off.
    pub not_verified_after: Option<Option<jiff::SignedDuration>>,
    pub no_success: Option<NoSuccessAlert>,
    /// Rotating the ID makes the old webhook URL stop working at once.
    pub webhook_id: Option<WebhookId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> String {
        MonitorKey::from_name(&MonitorName::parse(name).unwrap()).0
    }

    #[test]
    fn keys_are_slugs_of_names() {
        assert_eq!(key("Server One"), "server_one");
        assert_eq!(key("  NAS -- Photos (daily)  "), "nas_photos_daily");
        assert_eq!(key("Büro-PC"), "buro_pc");
        assert_eq!(key("日本"), "monitor");
        assert_eq!(
            key("Kopia NAS"),
            "nas",
            "entity IDs do not say kopia_kopia_"
        );
        assert_eq!(key("Kopia"), "kopia");
        assert_eq!(key(&"x".repeat(64)).len(), MonitorKey::MAX_LEN);
    }

    #[test]
    fn keys_from_names_always_parse_back() {
        for name in ["Server One", "a_b", "__x__", "9 lives", "É"] {
            let k = key(name);
            assert!(MonitorKey::parse(&k).is_ok(), "{name} -> {k}");
        }
    }

    #[test]
    fn suffixed_keys_stay_within_the_length_limit() {
        let long = MonitorKey::from_name(&MonitorName::parse(&"ab".repeat(32)).unwrap());
        let k = long.with_suffix(12);
        assert!(k.as_str().len() <= MonitorKey::MAX_LEN);
        assert!(k.as_str().ends_with("_12"));
        assert!(MonitorKey::parse(k.as_str()).is_ok());
    }

    #[test]
    fn generated_webhook_ids_are_22_url_safe_characters_and_parse() {
        let id = WebhookId::generate();
        assert_eq!(id.as_str().len(), 22);
        assert!(WebhookId::parse(id.as_str()).is_ok());
        assert_ne!(id, WebhookId::generate());
    }

    #[test]
    fn chosen_webhook_ids_are_checked() {
        assert!(WebhookId::parse("short").is_err());
        assert!(WebhookId::parse("has/a/slash/in/it/x").is_err());
        assert!(WebhookId::parse(&"a".repeat(129)).is_err());
        assert!(WebhookId::parse("server_1_backup_x").unwrap().looks_weak());
        assert!(
            !WebhookId::parse("Zq3-xT9_bK2mWp7LrA4vYc")
                .unwrap()
                .looks_weak()
        );
    }

    #[test]
    fn webhook_ids_never_print_whole() {
        let id = WebhookId::parse("abcdefghijklmnopqrstuvwxyz").unwrap();
        assert_eq!(format!("{id:?}"), "WebhookId(abcd…)");
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(MonitorName::parse("  x ").unwrap().as_str(), "x");
        assert!(MonitorName::parse("   ").is_err());
        assert!(MonitorName::parse("---").is_err());
        assert!(MonitorName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn slugs_follow_healthchecks_rules() {
        assert!(Slug::parse("nas-photos_2").is_ok());
        assert_eq!(
            Slug::parse("Nas-Photos").unwrap().as_str(),
            "nas-photos",
            "capitals are the same slug"
        );
        assert!(Slug::parse("nas.photos").is_err());
        let placeholder = Slug::parse("%3Cjob%3E").unwrap_err().0;
        assert!(
            placeholder.starts_with("the URL still holds the placeholder <job>"),
            "{placeholder}"
        );
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse("a/b").is_err());
        let key = PingKey::generate();
        assert_eq!(key.as_str().len(), 22);
        assert!(PingKey::parse(key.as_str()).is_some());
        assert!(key.matches(key.as_str()));
        assert!(!key.matches("x"));
    }

    #[test]
    fn history_limits_are_bounded() {
        assert!(HistoryLimit::parse(4).is_err());
        assert_eq!(HistoryLimit::parse(40).unwrap().get(), 40);
        assert!(HistoryLimit::parse(41).is_err());
    }
}

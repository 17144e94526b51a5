//! Logging set-up: `RUST_LOG` if set, else the add-on's `log_level` option.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Libraries whose detailed logs print what goes over the wire (tungstenite logs every
/// websocket frame, the Core token in the first): held at `info` whatever level is asked
/// for, so no log level ever shows a secret.
const PINNED: &[(&str, LevelFilter)] = &[
    ("tungstenite", LevelFilter::INFO),
    ("tokio_tungstenite", LevelFilter::INFO),
    ("hyper", LevelFilter::INFO),
    ("hyper_util", LevelFilter::INFO),
    ("reqwest", LevelFilter::INFO),
    ("h2", LevelFilter::INFO),
    ("rustls", LevelFilter::INFO),
    ("actix_http", LevelFilter::INFO),
    ("actix_server", LevelFilter::WARN),
    ("actix_web", LevelFilter::WARN),
];

pub fn init(default_level: &str) {
    let asked = std::env::var("RUST_LOG").ok();
    let (targets, unreadable) = filter(asked.as_deref(), default_level);
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_target(false))
        .with(targets)
        .try_init();
    if unreadable {
        tracing::warn!(
            "RUST_LOG {:?} is not a list of levels by target (such as warn,kopia_webhook::app=debug): logging at {default_level} instead",
            asked.unwrap_or_default()
        );
    }
}

/// `RUST_LOG`'s `target=level` list (`warn,kopia_webhook::app=debug`), else `default_level`,
/// with [`PINNED`] over both. A `Targets` filter rather than `EnvFilter`: the add-on filters
/// by target only, and `EnvFilter`'s span and field matching brings a regex engine (0.5 MB
/// of the binary). Also whether `RUST_LOG` was given but could not be read.
fn filter(asked: Option<&str>, default_level: &str) -> (Targets, bool) {
    let parsed = asked
        .filter(|asked| !asked.trim().is_empty())
        .map(str::parse::<Targets>);
    let unreadable = matches!(parsed, Some(Err(_)));
    let targets = match parsed {
        Some(Ok(targets)) => targets,
        _ => default_level.parse().unwrap_or_default(),
    };
    (targets.with_targets(PINNED.iter().copied()), unreadable)
}

/// An error with its causes, `outer: inner: innermost`, for logs and answers.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn the_log_level_applies_where_rust_log_is_not_set() {
        let (targets, _) = filter(None, "warn");
        assert!(targets.would_enable("kopia_webhook::app", &Level::WARN));
        assert!(!targets.would_enable("kopia_webhook::app", &Level::INFO));
    }

    #[test]
    fn rust_log_names_levels_by_target() {
        let (targets, unreadable) = filter(Some("warn,kopia_webhook::app=debug"), "info");
        assert!(!unreadable);
        assert!(targets.would_enable("kopia_webhook::app::start", &Level::DEBUG));
        assert!(!targets.would_enable("kopia_webhook::store", &Level::INFO));
        // Empty or unreadable: the log level, as if it were not set.
        for (asked, said) in [("", false), ("  ", false), ("kopia_webhook=loud", true)] {
            let (targets, unreadable) = filter(Some(asked), "info");
            assert_eq!(unreadable, said, "{asked:?}");
            assert!(
                targets.would_enable("kopia_webhook::store", &Level::INFO),
                "{asked:?}"
            );
            assert!(
                !targets.would_enable("kopia_webhook::store", &Level::DEBUG),
                "{asked:?}"
            );
        }
    }

    #[test]
    fn wire_logging_libraries_stay_quiet_at_any_level() {
        for (asked, level) in [
            (None, "trace"),
            (Some("trace"), "info"),
            (Some("tungstenite=trace"), "info"),
        ] {
            let (targets, _) = filter(asked, level);
            assert!(
                !targets.would_enable("tungstenite::protocol", &Level::DEBUG),
                "{asked:?}"
            );
            assert!(
                !targets.would_enable("reqwest::connect", &Level::DEBUG),
                "{asked:?}"
            );
            assert!(
                !targets.would_enable("actix_server::worker", &Level::INFO),
                "{asked:?}"
            );
            assert!(
                targets.would_enable("kopia_webhook::app", &Level::TRACE)
                    == (level == "trace" || asked == Some("trace"))
            );
        }
    }
}

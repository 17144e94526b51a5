//! Logging set-up: `RUST_LOG` if set, else the add-on's `log_level` option.

use tracing_subscriber::EnvFilter;

/// Libraries whose detailed logs print what goes over the wire (tungstenite logs every
/// websocket frame, the Core token in the first): held at `info` whatever level is asked
/// for, so no log level ever shows a secret.
const PINNED: &[&str] = &[
    "tungstenite=info",
    "tokio_tungstenite=info",
    "hyper=info",
    "hyper_util=info",
    "reqwest=info",
    "h2=info",
    "rustls=info",
    "actix_http=info",
    "actix_server=warn",
    "actix_web=warn",
];

pub fn init(default_level: &str) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    for directive in PINNED {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
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

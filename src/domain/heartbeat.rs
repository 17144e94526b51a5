//! The watcher watched: where the add-on says "I am alive, and all is well" (or what is
//! not), in the form the service behind the URL reads.

use std::fmt;

use super::ParseError;

/// What the service behind a heartbeat URL is, told by the URL's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatKind {
    /// Healthchecks (`hc-ping.com`, or `…/ping/<uuid>` of one's own, this add-on's too):
    /// a POST to the URL, or to `<url>/fail` with the reason.
    Healthchecks,
    /// Uptime Kuma's push monitor (`…/api/push/<token>`): `?status=up|down&msg=…`.
    UptimeKuma,
    /// Anything else: a POST of JSON, `{"status": "ok"|"problem", …}`.
    Plain,
}

impl HeartbeatKind {
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Healthchecks => "Healthchecks",
            Self::UptimeKuma => "Uptime Kuma",
            Self::Plain => "a plain URL",
        }
    }
}

/// A URL of the user's that hears from the add-on every few minutes. It holds a secret (a
/// check's UUID, a push token): shown and logged masked only.
#[derive(Clone, PartialEq, Eq)]
pub struct HeartbeatUrl {
    url: url::Url,
    kind: HeartbeatKind,
}

impl fmt::Debug for HeartbeatUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// What the add-on has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// Running, and every monitor fine (or running, or nothing yet).
    Fine { monitors: usize },
    /// Running, and something needs a look: the reason, in one line.
    Problem(String),
}

/// One HTTP request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub post: bool,
    pub url: String,
    pub body: Option<(&'static str, String)>,
}

/// Uptime Kuma shows a push's message in a notification; Healthchecks keeps 10 kB of a body.
const MAX_REASON: usize = 400;

impl HeartbeatUrl {
    /// The URL as given; never echoed back in the error (it may hold the secret).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let url = url::Url::parse(text.trim()).map_err(|_| {
            ParseError::new("the heartbeat URL is not a URL: copy it whole, with https://")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ParseError::new(
                "the heartbeat URL must start with http:// or https:// and name a host",
            ));
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let kind = if segments.windows(2).any(|w| w == ["api", "push"]) {
            HeartbeatKind::UptimeKuma
        } else if url.host_str().is_some_and(|h| h.ends_with("hc-ping.com"))
            || segments.first() == Some(&"ping") && segments.len() >= 2
        {
            HeartbeatKind::Healthchecks
        } else {
            HeartbeatKind::Plain
        };
        Ok(Self { url, kind })
    }

    pub fn kind(&self) -> HeartbeatKind {
        self.kind
    }

    /// `https://hc-ping.com/…4f2a`: enough to tell two URLs apart, not to use one.
    pub fn masked(&self) -> String {
        let path = self.url.path().trim_end_matches('/');
        let tail: String = path
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let port = self.url.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}://{}{port}/…{tail}",
            self.url.scheme(),
            self.url.host_str().unwrap_or("")
        )
    }

    /// The request that says `beat` to this kind of service.
    pub fn ping(&self, beat: &Beat) -> Ping {
        let reason = |text: &str| text.chars().take(MAX_REASON).collect::<String>();
        match (self.kind, beat) {
            (HeartbeatKind::Healthchecks, Beat::Fine { monitors }) => Ping {
                post: true,
                url: self.url.to_string(),
                body: Some(("text/plain", format!("{monitors} monitors, all fine"))),
            },
            (HeartbeatKind::Healthchecks, Beat::Problem(why)) => {
                let mut url = self.url.clone();
                let path = format!("{}/fail", url.path().trim_end_matches('/'));
                url.set_path(&path);
                Ping {
                    post: true,
                    url: url.to_string(),
                    body: Some(("text/plain", reason(why))),
                }
            }
            (HeartbeatKind::UptimeKuma, beat) => {
                let (status, msg) = match beat {
                    Beat::Fine { monitors } => ("up", format!("{monitors} monitors, all fine")),
                    Beat::Problem(why) => ("down", reason(why)),
                };
                let mut url = self.url.clone();
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| !matches!(k.as_ref(), "status" | "msg" | "ping"))
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair("status", status)
                    .append_pair("msg", &msg)
                    .append_pair("ping", "");
                Ping {
                    post: false,
                    url: url.to_string(),
                    body: None,
                }
            }
            (HeartbeatKind::Plain, beat) => {
                let body = match beat {
                    Beat::Fine { monitors } => {
                        serde_json::json!({"status": "ok", "monitors": monitors})
                    }
                    Beat::Problem(why) => {
                        serde_json::json!({"status": "problem", "reason": reason(why)})
                    }
                };
                Ping {
                    post: true,
                    url: self.url.to_string(),
                    body: Some(("application/json", body.to_string())),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_read_from_the_url() {
        let kind = |u: &str| HeartbeatUrl::parse(u).unwrap().kind();
        assert_eq!(
            kind("https://hc-ping.com/5e3c1f7a-0000-4000-8000-000000000000"),
            HeartbeatKind::Healthchecks
        );
        assert_eq!(
            kind("https://hc.example.net/ping/5e3c1f7a-0000-4000-8000-000000000000"),
            HeartbeatKind::Healthchecks
        );
        assert_eq!(
            kind("http://kuma.lan:3001/api/push/Xy12AbC?status=up&msg=OK&ping="),
            HeartbeatKind::UptimeKuma
        );
        assert_eq!(
            kind("https://example.com/heartbeat/abc"),
            HeartbeatKind::Plain
        );
        for bad in [
            "hc-ping.com/secret-uuid",
            "ftp://host/secret-uuid",
            "secret-uuid",
            "mailto:secret-uuid@example.com",
        ] {
            let error = HeartbeatUrl::parse(bad).unwrap_err();
            assert!(!error.0.contains("secret-uuid"), "{error}");
        }
    }

    #[test]
    fn masked_keeps_the_host_and_the_last_characters_only() {
        let url = HeartbeatUrl::parse("https://hc-ping.com/5e3c1f7a-0000-4000-8000-00000000abcd")
            .unwrap();
        assert_eq!(url.masked(), "https://hc-ping.com/…abcd");
        assert_eq!(format!("{url:?}"), "https://hc-ping.com/…abcd");
    }

    #[test]
    fn healthchecks_gets_its_fail_url_with_the_reason() {
        let url = HeartbeatUrl::parse("https://hc-ping.com/uuid-1/").unwrap();
        let fine = url.ping(&Beat::Fine { monitors: 3 });
        assert_eq!(fine.url, "https://hc-ping.com/uuid-1/");
        assert!(fine.post);
        let problem = url.ping(&Beat::Problem("NAS: failed (disk full)".into()));
        assert_eq!(problem.url, "https://hc-ping.com/uuid-1/fail");
        assert_eq!(
            problem.body,
            Some(("text/plain", "NAS: failed (disk full)".to_owned()))
        );
    }

    #[test]
    fn uptime_kuma_gets_up_or_down_with_the_message() {
        let url = HeartbeatUrl::parse("http://kuma.lan:3001/api/push/Xy12?status=up&msg=OK&ping=")
            .unwrap();
        let down = url.ping(&Beat::Problem("NAS: failed (disk full)".into()));
        assert!(!down.post);
        assert_eq!(
            down.url,
            "http://kuma.lan:3001/api/push/Xy12?status=down&msg=NAS%3A+failed+%28disk+full%29&ping="
        );
        let up = url.ping(&Beat::Fine { monitors: 2 });
        assert!(up.url.contains("status=up"), "{}", up.url);
    }
}

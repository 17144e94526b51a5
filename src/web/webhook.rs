//! The webhook port: each URL shape is a row of a table — how it names its monitor, which
//! reader reads it, and the shape of the answer its senders expect. The delivery itself
//! (throttle, find the monitor, body limits, secret, read, store, then answer) is one use
//! case, [`Service::deliver`](crate::service::Service::deliver).
//!
//! - `POST|PUT /api/webhook/{id}`: any sender's report, recognised by its content.
//! - `POST|PUT /api/webhook/{ping key}/{slug}[?create=1]`: the same, the job's name in the URL.
//! - `/ping/{id}[/start|/fail|/log|/{exit status}]` (or `?event=start`…): Healthchecks-
//!   compatible, any method; `/ping/{ping key}/{slug}[/{signal}]` too.
//! - `/api/push/{id}?status=&msg=&ping=`: Uptime-Kuma-compatible, any method.
//! - `/ntfy/{id}`, `/ntfy`, `/{id}`, `/`: ntfy-compatible publishing (the topic is the ID).
//! - `POST /message`, `POST /{prefix}/message`: Gotify-compatible (the token is the ID).
//! - `/api/integration/relay/{id}`: a request Home Assistant received at its own URL,
//!   relayed by the companion integration (key-authenticated); read as a report, a ping or
//!   an Uptime Kuma push by what it looks like. `/api/integration/…`: the integration's
//!   other calls ([`super::integration`]).

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tracing::Instrument as _;

use super::AppState;
use super::errors::webhook_refusal;
use crate::senders::{Reader, healthchecks};
use crate::service::{Body, BodyError, Caller, Delivered, Locate, Request, ServiceError};

/// A path on the webhook port. Matched by hand, not by actix's router: that matches `{id}`
/// segments with regex-lite's PikeVM, about 29,000 instructions for a 22-character webhook
/// ID (callgrind), a tenth of what storing a whole report costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WebhookPath<'a> {
    Health,
    /// `/api/webhook/<id>`
    Report(&'a str),
    /// `/api/webhook/<ping key>/<slug>`
    SlugReport(&'a str, &'a str),
    /// `/ping/<a>[/<b>[/<c>]]`: an ID and a signal, or the ping key, a slug and a signal.
    Ping(&'a str, Option<&'a str>, Option<&'a str>),
    /// `/api/push/<id>`
    Push(&'a str),
    /// `/ntfy`, or the root `/`: ntfy's JSON, the topic in the body.
    NtfyJson {
        root: bool,
    },
    /// `/ntfy/<topic>[/<action>]`
    NtfyTopic(&'a str, Option<&'a str>),
    /// `/<topic>`: Shoutrrr's ntfy publishes at the root.
    RootTopic(&'a str),
    /// `/message`, `/<prefix>/message`
    GotifyMessage,
    /// `/api/integration/relay/<id>`
    Relay(&'a str),
    /// `/api/integration/<call>`
    Integration(&'a str),
    Unknown,
}

impl<'a> WebhookPath<'a> {
    /// A trailing slash is the same URL (`…/<id>/`); an empty segment inside is no URL.
    fn parse(path: &'a str) -> Self {
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Self::NtfyJson { root: true };
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Self::Unknown;
        };
        let mut segments = [""; 4];
        let mut count = 0;
        for segment in rest.split('/') {
            if segment.is_empty() || count == segments.len() {
                return Self::Unknown;
            }
            segments[count] = segment;
            count += 1;
        }
        match segments[..count] {
            ["healthz"] => Self::Health,
            ["api", "webhook", id] => Self::Report(id),
            ["api", "webhook", key, slug] => Self::SlugReport(key, slug),
            ["ping", first] => Self::Ping(first, None, None),
            ["ping", first, second] => Self::Ping(first, Some(second), None),
            ["ping", first, second, third] => Self::Ping(first, Some(second), Some(third)),
            ["api", "push", id] => Self::Push(id),
            ["api", "integration", "relay", id] => Self::Relay(id),
            ["api", "integration", call] => Self::Integration(call),
            ["ntfy"] => Self::NtfyJson { root: false },
            ["ntfy", topic] => Self::NtfyTopic(topic, None),
            ["ntfy", topic, action] => Self::NtfyTopic(topic, Some(action)),
            ["message"] | [_, "message"] => Self::GotifyMessage,
            [topic] => Self::RootTopic(topic),
            _ => Self::Unknown,
        }
    }
}

/// What a request on the webhook port is answered with.
enum Action<'a> {
    Health,
    /// `GET` of a report URL: which monitor it is, and how to use it.
    Describe(&'a str),
    WrongMethod,
    WrongUrl,
    Deliver(Route<'a>),
    /// Relayed by the integration: the key first, then a route by the request's shape.
    Relay(&'a str),
    Integration(&'a str),
}

/// A URL shape that delivers: how it names its monitor, which reader, which answer.
struct Route<'a> {
    locate: Locate<'a>,
    reader: Reader,
    answer: Answer,
}

/// The shape of the answer a sender expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Exactly 200 with `{"ok":true,"events":N}`: Kopia counts anything else, even 201 or
    /// 204, as a failed delivery.
    Report,
    /// Healthchecks' `OK` (or JSON naming the monitor a `?create=1` made).
    Ping,
    /// Uptime Kuma's `{"ok":…}`, refusals included.
    Push,
    /// ntfy's JSON message (Shoutrrr requires JSON). At the root, a body that is not
    /// ntfy's JSON was sent to a wrong URL and is told so.
    Ntfy { root: bool },
    /// Gotify's JSON message (Shoutrrr requires JSON, Apprise exactly 200).
    Gotify,
}

impl<'a> Action<'a> {
    fn of(path: WebhookPath<'a>, method: &Method) -> Self {
        let sends = method == Method::POST || method == Method::PUT;
        let deliver = |locate, reader, answer| {
            Self::Deliver(Route {
                locate,
                reader,
                answer,
            })
        };
        match path {
            WebhookPath::Health if method == Method::GET => Self::Health,
            WebhookPath::Report(id) if sends => {
                deliver(Locate::Id(id), Reader::Report, Answer::Report)
            }
            WebhookPath::Report(id) if method == Method::GET => Self::Describe(id),
            WebhookPath::Report(_) | WebhookPath::SlugReport(..) if !sends => Self::WrongMethod,
            WebhookPath::SlugReport(key, slug) => {
                deliver(Locate::Slug { key, slug }, Reader::Report, Answer::Report)
            }
            WebhookPath::Ping(first, second, third) => deliver(
                Locate::Ping(first, second, third),
                Reader::Ping,
                Answer::Ping,
            ),
            WebhookPath::Push(id) => deliver(Locate::Id(id), Reader::Push, Answer::Push),
            WebhookPath::NtfyJson { root } if sends => {
                deliver(Locate::BodyTopic, Reader::NtfyJson, Answer::Ntfy { root })
            }
            WebhookPath::NtfyTopic(topic, None) if sends => ntfy_topic(topic),
            WebhookPath::NtfyTopic(topic, Some("publish" | "send" | "trigger")) => {
                ntfy_topic(topic)
            }
            // At the root, only what could be a webhook ID is a topic: any other path is a
            // wrong URL and says so.
            WebhookPath::RootTopic(topic)
                if sends && crate::domain::WebhookId::parse(topic).is_ok() =>
            {
                ntfy_topic(topic)
            }
            WebhookPath::GotifyMessage if method == Method::POST => {
                deliver(Locate::GotifyToken, Reader::Gotify, Answer::Gotify)
            }
            WebhookPath::Relay(id) => Self::Relay(id),
            WebhookPath::Integration(call) => Self::Integration(call),
            _ => Self::WrongUrl,
        }
    }
}

/// A request Home Assistant's webhook URL received (one path segment, so no `/start` or
/// slug): an Uptime Kuma push when it has `?status=`, a ping when it has `?event=`, is a
/// `GET`/`HEAD` or has no body, a report otherwise.
fn relayed<'a>(id: &'a str, method: &Method, query: &str, has_body: bool) -> Route<'a> {
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    let (reader, answer) = if has("status") {
        (Reader::Push, Answer::Push)
    } else if has("event") || method == Method::GET || method == Method::HEAD || !has_body {
        (Reader::Ping, Answer::Ping)
    } else {
        (Reader::Report, Answer::Report)
    };
    let locate = match reader {
        Reader::Ping => Locate::Ping(id, None, None),
        _ => Locate::Id(id),
    };
    Route {
        locate,
        reader,
        answer,
    }
}

fn ntfy_topic(topic: &str) -> Action<'_> {
    Action::Deliver(Route {
        locate: Locate::Id(topic),
        reader: Reader::NtfyPublish,
        answer: Answer::Ntfy { root: false },
    })
}

/// Every request to the webhook port, in a span that names it with the webhook ID masked.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %super::masked_path(req.path()),
    );
    route(req, payload, state).instrument(span).await
}

async fn route(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    // The path's segments borrow from this handle while the request moves on.
    let target = req.clone();
    let route = match Action::of(WebhookPath::parse(target.path()), req.method()) {
        Action::Health => return super::healthz().await,
        Action::Describe(id) => {
            return describe(&req, id, &state)
                .await
                .unwrap_or_else(|e| webhook_refusal(&e));
        }
        Action::WrongMethod => return wrong_method(&req),
        Action::WrongUrl => return wrong_url(&req, &state).await,
        Action::Integration(call) => {
            return super::integration::call(&req, call, payload, &state).await;
        }
        Action::Relay(id) => return relay(&req, id, payload, &state).await,
        Action::Deliver(route) => route,
    };
    deliver(
        &req,
        route,
        header_pairs(&req),
        payload,
        caller(&req),
        &state,
    )
    .await
}

/// The header the integration presents its key in (not `Authorization`: the sender's own
/// goes through), and the one that names the sender's address.
pub const KEY_HEADER: &str = "x-kopia-webhook-key";
pub const CLIENT_HEADER: &str = "x-kopia-webhook-client";
/// When Home Assistant received a report it held while the add-on was away (RFC 3339).
const RECEIVED_HEADER: &str = "x-kopia-webhook-received";
/// Says that the relay itself was refused (the key), not the sender's request.
const REFUSED_HEADER: &str = "x-kopia-webhook-refused";

/// A request relayed by the integration: its key, then the sender's request as if it had
/// come here, with the sender's address (for its throttle) as the integration says.
async fn relay(
    req: &HttpRequest,
    id: &str,
    payload: web::Payload,
    state: &AppState,
) -> HttpResponse {
    let integration = caller(req);
    let key = req.headers().get(KEY_HEADER).and_then(|v| v.to_str().ok());
    if let Err(error) = state.service.admit_integration(key, integration).await {
        // Told apart from the sender's own 401 (a wrong signature), which goes back to it.
        let mut refusal = webhook_refusal(&error);
        refusal.headers_mut().insert(
            header::HeaderName::from_static(REFUSED_HEADER),
            header::HeaderValue::from_static("integration-key"),
        );
        return refusal;
    }
    state.service.integration_seen(None);
    let sender = Caller {
        peer: header_text(req, CLIENT_HEADER)
            .and_then(|v| v.trim().parse().ok())
            .or(integration.peer),
        arrived: header_text(req, RECEIVED_HEADER).and_then(held_since),
    };
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let route = relayed(id, req.method(), req.query_string(), has_body);
    let mut headers = header_pairs(req);
    headers.retain(|(name, _)| !name.starts_with("x-kopia-webhook-"));
    deliver(req, route, headers, payload, sender, state).await
}

fn header_text<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The time a held report arrived, if it is one: not in the future, and not older than
/// the integration holds reports (14 days), give or take a clock's difference.
fn held_since(text: &str) -> Option<jiff::Timestamp> {
    let at: jiff::Timestamp = text.trim().parse().ok()?;
    let now = jiff::Timestamp::now();
    let oldest = now - jiff::SignedDuration::from_hours(15 * 24);
    (at >= oldest && at <= now).then_some(at)
}

/// Delivers the request along `route` and answers as its senders expect.
async fn deliver(
    req: &HttpRequest,
    route: Route<'_>,
    headers: Vec<(String, String)>,
    payload: web::Payload,
    caller: Caller,
    state: &AppState,
) -> HttpResponse {
    let delivered = state
        .service
        .deliver(Request {
            locate: route.locate,
            reader: route.reader,
            headers: &headers,
            query: req.query_string(),
            body: Stream(payload),
            caller,
        })
        .await;
    match (route.answer, delivered) {
        (answer, Ok(delivered)) => answer.success(delivered),
        (Answer::Ntfy { root: true }, Err(ServiceError::Unreadable(_))) => {
            wrong_url(req, state).await
        }
        (Answer::Push, Err(error)) => push_error(&error),
        (_, Err(error)) => webhook_refusal(&error),
    }
}

impl Answer {
    fn success(self, delivered: Delivered) -> HttpResponse {
        let echo = delivered.echo.unwrap_or_else(|| crate::senders::Echo {
            title: String::new(),
            message: String::new(),
            priority: None,
        });
        let now = jiff::Timestamp::now();
        match self {
            Self::Report => HttpResponse::Ok().json(ReportAnswer {
                ok: true,
                events: delivered.ingested.stored,
                duplicates: delivered.ingested.duplicates,
                not_understood: delivered.not_understood,
                created: delivered.created.then(|| delivered.monitor.key.to_string()),
            }),
            Self::Ping => {
                let mut answer = HttpResponse::Ok();
                answer
                    .insert_header(("Ping-Body-Limit", healthchecks::PING_BODY_LIMIT.to_string()));
                if delivered.created {
                    // 200, not Healthchecks' 201: Backrest counts anything else as a failure.
                    return answer.json(
                        serde_json::json!({ "ok": true, "created": delivered.monitor.key.as_str() }),
                    );
                }
                answer.content_type("text/plain; charset=utf-8").body("OK")
            }
            Self::Push => HttpResponse::Ok().json(serde_json::json!({ "ok": true })),
            Self::Ntfy { .. } => HttpResponse::Ok().json(serde_json::json!({
                "id": format!("{:x}", now.as_nanosecond() as u64),
                "time": now.as_second(),
                "event": "message",
                "topic": delivered.monitor.webhook_id.as_str(),
                "title": echo.title,
                "message": echo.message,
            })),
            Self::Gotify => HttpResponse::Ok().json(serde_json::json!({
                "id": now.as_millisecond(),
                "appid": delivered.monitor.id,
                "message": echo.message,
                "title": echo.title,
                "priority": echo.priority.unwrap_or(0),
                "date": now.to_string(),
            })),
        }
    }
}

/// `{"ok":true,"events":N}`, in that order, and what was not understood, if anything.
#[derive(Serialize)]
struct ReportAnswer {
    ok: bool,
    events: usize,
    #[serde(skip_serializing_if = "is_zero")]
    duplicates: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_understood: Option<String>,
    /// The monitor this report created (a slug URL with `create=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Uptime Kuma's refusal: its JSON, with the status and `Retry-After` of any refusal.
fn push_error(error: &ServiceError) -> HttpResponse {
    let mut response = webhook_refusal(error);
    let body = serde_json::json!({ "ok": false, "msg": error.to_string() }).to_string();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response.set_body(actix_web::body::BoxBody::new(body))
}

/// The request's body as it streams in.
struct Stream(web::Payload);

impl Body for Stream {
    async fn read(self, limit: usize) -> Result<bytes::Bytes, BodyError> {
        match self.0.to_bytes_limited(limit).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(BodyError::Broken(
                std::io::Error::other(e.to_string()).into(),
            )),
            Err(_) => Err(BodyError::TooLarge),
        }
    }
}

fn caller(req: &HttpRequest) -> Caller {
    Caller::from_peer(req.peer_addr().map(|a| a.ip()))
}

fn header_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        // Kopia puts host and path in `Subject`, which may not be ASCII (`/home/jürgen`).
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// What a browser, or a person with curl, is told about a URL on the webhook port.
#[derive(askama::Template)]
#[template(path = "webhook_info.html")]
struct UrlHelp {
    title: String,
    lines: Vec<String>,
    /// A URL to use instead, if there is one.
    example: String,
}

impl UrlHelp {
    /// HTML for a browser, plain text for tools (their logs show it).
    fn answer(&self, req: &HttpRequest, status: actix_web::http::StatusCode) -> HttpResponse {
        let wants_html = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        let mut response = HttpResponse::build(status);
        if wants_html && let Ok(html) = askama::Template::render(self) {
            return response.content_type("text/html; charset=utf-8").body(html);
        }
        let mut text = format!("{}\n", self.title);
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        if !self.example.is_empty() {
            text.push_str(&self.example);
            text.push('\n');
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(text)
    }
}

/// `GET /api/webhook/{id}`: someone opened a webhook URL in a browser (or a tool is set to
/// GET). Says which monitor it is and how to use it; stores nothing.
async fn describe(
    req: &HttpRequest,
    id: &str,
    state: &AppState,
) -> Result<HttpResponse, ServiceError> {
    let monitor = state.service.webhook_monitor(id, caller(req)).await?;
    let view = state.service.view(monitor, 1).await?;
    let last = match view.summary.last_seen {
        Some(at) => format!(
            "Last report: {} ({}).",
            super::views::display_time(at, &state.settings.options.timezone),
            view.summary.status
        ),
        None => "Nothing has arrived yet.".to_owned(),
    };
    tracing::info!(monitor = %view.monitor.key, "a webhook URL was opened with GET");
    let help = UrlHelp {
        title: format!("This is the webhook of the monitor “{}”", view.monitor.name.as_str()),
        lines: vec![
            "Backup tools send their reports here with POST (Kopia, Duplicati, SimpleBackups, scripts); \
             opening it in a browser stores nothing. The panel in Home Assistant's sidebar shows how \
             to set up each tool."
                .to_owned(),
            last,
            "Tools that can only GET (cron jobs with curl, Uptime-Kuma-style) use the ping URL instead:"
                .to_owned(),
        ],
        example: format!("{}/ping/{id}", state.webhook_base(req)),
    };
    Ok(help.answer(req, actix_web::http::StatusCode::OK))
}

/// `DELETE`, `PATCH`… on a webhook URL.
fn wrong_method(req: &HttpRequest) -> HttpResponse {
    tracing::info!(method = %req.method(), "a webhook URL was called with a method that is not POST");
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST, PUT, GET"))
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "{} is not how reports arrive: send them with POST (or PUT).\n",
            req.method()
        ))
}

/// Anything else on the webhook port: a mistyped URL. Says what the URLs look like, and
/// names the monitor when the path holds one of its IDs.
async fn wrong_url(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let base = state.webhook_base(req);
    let path = req.path().to_owned();
    let mut known = None;
    for segment in path
        .split('/')
        .filter(|s| s.len() >= crate::domain::WebhookId::MIN_LEN)
    {
        match state
            .service
            .monitor_named_in_url(segment, caller(req))
            .await
        {
            Ok(Some(monitor)) => {
                known = Some((monitor, segment.to_owned()));
                break;
            }
            Ok(None) => {}
            Err(error) => return webhook_refusal(&error),
        }
    }
    let shown: String = path.chars().take(40).collect::<String>();
    let help = match known {
        Some((monitor, id)) => {
            tracing::info!(monitor = %monitor.key, "a request used a wrong path with a monitor's webhook ID");
            UrlHelp {
                title: format!(
                    "Almost: this path holds the webhook ID of “{}”, but it is not a webhook URL",
                    monitor.name.as_str()
                ),
                lines: vec![
                    "Reports go to /api/webhook/<id> (POST), pings to /ping/<id>. Use this URL:"
                        .to_owned(),
                ],
                example: format!("{base}/api/webhook/{id}"),
            }
        }
        None => {
            tracing::info!(method = %req.method(), "a request to the webhook port used a path that is not a webhook URL");
            UrlHelp {
                title: "Not a webhook URL".to_owned(),
                lines: vec![
                    format!("Nothing answers at {shown}… on this port (the webhook port)."),
                    "Backup tools POST reports to /api/webhook/<id>, or ping /ping/<id>; \
                     a URL with the job's name in it is /api/webhook/<ping key>/<job>. \
                     The panel in Home Assistant's sidebar shows every monitor's URL and how to set up each tool."
                        .to_owned(),
                    "If this address was meant for Home Assistant itself, use Home Assistant's own port."
                        .to_owned(),
                ],
                example: format!("{base}/api/webhook/<id>"),
            }
        }
    };
    help.answer(req, actix_web::http::StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::WebhookPath::{self, *};

    #[test]
    fn paths_are_read_by_shape() {
        let id = "abcdefghijklmnopqrstuv";
        let cases: &[(&str, WebhookPath)] = &[
            ("/healthz", Health),
            ("/api/webhook/abcdefghijklmnopqrstuv", Report(id)),
            ("/api/webhook/abcdefghijklmnopqrstuv//", Report(id)),
            ("/api/webhook/key/nas-docs", SlugReport("key", "nas-docs")),
            ("/ping/abcdefghijklmnopqrstuv", Ping(id, None, None)),
            (
                "/ping/abcdefghijklmnopqrstuv/fail",
                Ping(id, Some("fail"), None),
            ),
            ("/ping/k/job/start/", Ping("k", Some("job"), Some("start"))),
            ("/api/push/abcdefghijklmnopqrstuv", Push(id)),
            ("/ntfy", NtfyJson { root: false }),
            ("/", NtfyJson { root: true }),
            ("//", NtfyJson { root: true }),
            ("/ntfy/abcdefghijklmnopqrstuv", NtfyTopic(id, None)),
            ("/ntfy/t/publish", NtfyTopic("t", Some("publish"))),
            ("/message", GotifyMessage),
            ("/gotify/message", GotifyMessage),
            // `/ping/message` and `/ntfy/message` are a ping and a topic, as before.
            ("/ping/message", Ping("message", None, None)),
            ("/abcdefghijklmnopqrstuv", RootTopic(id)),
            ("/api/webhook", Unknown),
            ("/api//webhook/x", Unknown),
            ("/api/webhook/a/b/c", Unknown),
            ("/ping/a/b/c/d", Unknown),
            ("/a/b/c/d/e/f", Unknown),
            ("no-slash", Unknown),
        ];
        for (path, expected) in cases {
            assert_eq!(WebhookPath::parse(path), *expected, "{path}");
        }
    }
}

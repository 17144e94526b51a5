//! The webhook listener's routes, all through one pipeline: find the monitor, apply its
//! rate limit, read the body, check its secret, parse, pair with a pending start, commit,
//! and only then answer. Every refusal of a known monitor is recorded for the panel.
//!
//! - `POST|PUT /api/webhook/{id}`: any sender's report, recognised by its content.
//! - `/ping/{id}[/start|/fail|/log|/{exit status}]`: Healthchecks-compatible, any method.
//! - `/api/push/{id}?status=&msg=&ping=`: Uptime-Kuma-compatible, any method.
//! - `/ntfy/{id}`, `/ntfy`, `/{id}`, `/`: ntfy-compatible publishing (the topic is the ID).
//! - `POST /message`, `POST /{prefix}/message`: Gotify-compatible (the token is the ID).

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use tracing::Instrument as _;

use super::{AppState, WebhookError};
use crate::domain::Monitor;
use crate::senders::{self, Inbound, gotify, healthchecks, ntfy, uptime_kuma};
use crate::service::{Caller, Receipt};

/// Larger bodies get 413: reports are a few kilobytes, Duplicati's with logs well under this.
pub const MAX_BODY: usize = 1024 * 1024;

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
            ["ntfy"] => Self::NtfyJson { root: false },
            ["ntfy", topic] => Self::NtfyTopic(topic, None),
            ["ntfy", topic, action] => Self::NtfyTopic(topic, Some(action)),
            ["message"] | [_, "message"] => Self::GotifyMessage,
            [topic] => Self::RootTopic(topic),
            _ => Self::Unknown,
        }
    }
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
    let method = req.method().clone();
    let sends = method == Method::POST || method == Method::PUT;
    let answer = match WebhookPath::parse(target.path()) {
        WebhookPath::Health if method == Method::GET => return super::healthz().await,
        WebhookPath::Report(id) if sends => receive(req, id, payload, state).await,
        WebhookPath::Report(id) if method == Method::GET => describe(req, id, state).await,
        WebhookPath::Report(_) | WebhookPath::SlugReport(..) if !sends => {
            return wrong_method(&req);
        }
        WebhookPath::SlugReport(key, slug) => receive_by_slug(req, key, slug, payload, state).await,
        WebhookPath::Ping(first, second, third) => {
            ping(req, (first, second, third), payload, state).await
        }
        WebhookPath::Push(id) => return push(req, id, payload, state).await,
        WebhookPath::NtfyJson { root } if sends => ntfy_json(req, root, payload, state).await,
        WebhookPath::NtfyTopic(topic, action) if sends || action.is_some() => {
            ntfy_publish(req, topic, action, false, payload, state).await
        }
        WebhookPath::RootTopic(topic) if sends => {
            ntfy_publish(req, topic, None, true, payload, state).await
        }
        WebhookPath::GotifyMessage if method == Method::POST => {
            gotify_message(req, payload, state).await
        }
        _ => return wrong_url(req, state).await,
    };
    answer.unwrap_or_else(|error| error.error_response())
}

/// `POST|PUT /api/webhook/{id}`.
async fn receive(
    req: HttpRequest,
    id: &str,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let caller = caller(&req);
    let monitor = state.service.webhook_monitor(id, caller).await?;
    report(&state, &req, caller, &monitor, payload, false).await
}

/// `POST|PUT /api/webhook/{ping key}/{slug}[?create=1]`: one URL per tool with the job's
/// name in it; `create=1` makes the monitor on its first report.
async fn receive_by_slug(
    req: HttpRequest,
    key: &str,
    slug: &str,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let caller = caller(&req);
    let target = state
        .service
        .slug_monitor(key, slug, wants_create(&req), caller)
        .await?;
    report(
        &state,
        &req,
        caller,
        &target.monitor,
        payload,
        target.created,
    )
    .await
}

/// Any sender's report to a known monitor: read, authenticate, parse, store, answer.
async fn report(
    state: &AppState,
    req: &HttpRequest,
    caller: Caller,
    monitor: &Monitor,
    payload: web::Payload,
    created: bool,
) -> Result<HttpResponse, WebhookError> {
    let body = read_body(state, caller, monitor, payload).await?;
    let headers = header_pairs(req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    state.service.authenticate(monitor, &inbound, caller)?;
    let parsed =
        senders::parse(&inbound).map_err(|e| refuse(state, caller, monitor, &body, e.into()))?;
    let receipt = state.service.ingest(monitor, parsed.events, caller).await?;
    let mut accepted = Accepted::new(receipt, parsed.not_understood);
    accepted.created = created.then(|| monitor.key.to_string());
    // Exactly 200: Kopia counts anything else, even 201 or 204, as a failed delivery.
    Ok(HttpResponse::Ok().json(accepted))
}

/// `/ping/{id}[/{signal}]` and `/ping/{ping key}/{slug}[/{signal}]`, any method.
async fn ping(
    req: HttpRequest,
    (first, second, third): (&str, Option<&str>, Option<&str>),
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let caller = caller(&req);
    // `/ping/<a>/<b>` is a monitor's ID and a signal, or the ping key and a slug: the key
    // decides (Healthchecks tells them apart the same way).
    let (monitor, signal, created) = match (second, third) {
        (Some(slug), signal) if signal.is_some() || state.service.is_ping_key(first).await => {
            let target = state
                .service
                .slug_monitor(first, slug, wants_create(&req), caller)
                .await?;
            (target.monitor, signal, target.created)
        }
        (signal, _) => (
            state.service.webhook_monitor(first, caller).await?,
            signal,
            false,
        ),
    };
    let body = read_body(&state, caller, &monitor, payload).await?;
    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    let query = query_pairs(&req);
    let rid = query
        .iter()
        .find(|(k, _)| k == "rid")
        .map(|(_, v)| v.as_str());
    state.service.authenticate(&monitor, &inbound, caller)?;
    let event = healthchecks::Signal::parse(signal)
        .and_then(|signal| {
            Ok(healthchecks::ping_event(
                signal,
                healthchecks::parse_rid(rid)?,
                &body,
            ))
        })
        .map_err(|e| refuse(&state, caller, &monitor, &body, e.into()))?;
    state.service.ingest(&monitor, vec![event], caller).await?;
    let mut answer = HttpResponse::Ok();
    answer.insert_header(("Ping-Body-Limit", healthchecks::PING_BODY_LIMIT.to_string()));
    if created {
        // 200, not Healthchecks' 201: Backrest counts anything else as a failed delivery.
        return Ok(answer.json(serde_json::json!({ "ok": true, "created": monitor.key.as_str() })));
    }
    Ok(answer.content_type("text/plain; charset=utf-8").body("OK"))
}

/// What a browser, or a person with curl, is told about a URL on the webhook port.
#[derive(askama::Template)]
#[template(path = "webhook_info.html")]
struct Info {
    title: String,
    lines: Vec<String>,
    /// A URL to use instead, if there is one.
    example: String,
}

impl Info {
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
    req: HttpRequest,
    id: &str,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let monitor = state.service.webhook_monitor(id, caller(&req)).await?;
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
    let info = Info {
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
        example: format!("{}/ping/{id}", state.webhook_base(&req)),
    };
    Ok(info.answer(&req, actix_web::http::StatusCode::OK))
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
async fn wrong_url(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = state.webhook_base(&req);
    let path = req.path().to_owned();
    let mut known = None;
    for segment in path
        .split('/')
        .filter(|s| s.len() >= crate::domain::WebhookId::MIN_LEN)
    {
        if let Some(monitor) = state.service.monitor_named_in_url(segment).await {
            known = Some((monitor, segment.to_owned()));
            break;
        }
    }
    let shown: String = path.chars().take(40).collect::<String>();
    let info = match known {
        Some((monitor, id)) => {
            tracing::info!(monitor = %monitor.key, "a request used a wrong path with a monitor's webhook ID");
            Info {
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
            Info {
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
    info.answer(&req, actix_web::http::StatusCode::NOT_FOUND)
}

/// `?create=1` (Healthchecks' spelling; `true` is accepted too).
fn wants_create(req: &HttpRequest) -> bool {
    query_pairs(req)
        .iter()
        .any(|(k, v)| k == "create" && matches!(v.as_str(), "1" | "true"))
}

/// `/api/push/{id}?status=&msg=&ping=`, any method; answers in Uptime Kuma's JSON.
async fn push(
    req: HttpRequest,
    id: &str,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let result = async {
        let caller = caller(&req);
        let monitor = state.service.webhook_monitor(id, caller).await?;
        let body = read_body(&state, caller, &monitor, payload).await?;
        let headers = header_pairs(&req);
        let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
        state.service.authenticate(&monitor, &inbound, caller)?;
        let event = uptime_kuma::push_event(req.query_string())
            .map_err(|e| refuse(&state, caller, &monitor, &body, e.into()))?;
        Ok::<_, WebhookError>(state.service.ingest(&monitor, vec![event], caller).await?)
    }
    .await;
    match result {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({ "ok": true })),
        Err(error) => {
            let mut response = error.error_response();
            let body = serde_json::json!({ "ok": false, "msg": error.to_string() }).to_string();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response.set_body(actix_web::body::BoxBody::new(body))
        }
    }
}

/// `{"ok":true,"events":N}`, in that order, and what was not understood, if anything.
#[derive(Serialize)]
struct Accepted {
    ok: bool,
    events: usize,
    #[serde(skip_serializing_if = "is_zero")]
    duplicates: usize,
    /// Stored, but no sender reads this body: why, so the tool's log says what to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_understood: Option<String>,
    /// The monitor this report created (a slug URL with `create=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Accepted {
    fn new(receipt: Receipt, not_understood: Option<String>) -> Self {
        Self {
            ok: true,
            events: receipt.stored,
            duplicates: receipt.duplicates,
            not_understood,
            created: None,
        }
    }
}

fn caller(req: &HttpRequest) -> Caller {
    Caller {
        peer: req.peer_addr().map(|a| a.ip()),
    }
}

async fn read_body(
    state: &AppState,
    caller: Caller,
    monitor: &Monitor,
    payload: web::Payload,
) -> Result<web::Bytes, WebhookError> {
    read_unattributed(payload).await.map_err(|e| match e {
        WebhookError::TooLarge { .. } => refuse(state, caller, monitor, b"", e),
        other => other,
    })
}

/// The body of a request whose monitor is only known from the body itself (ntfy's JSON
/// topic, a Gotify token that may be in it): the same limit, nothing to record it against.
async fn read_unattributed(payload: web::Payload) -> Result<web::Bytes, WebhookError> {
    match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(WebhookError::Payload(e)),
        Err(_) => Err(WebhookError::TooLarge { limit: MAX_BODY }),
    }
}

/// The query string's pairs; one that does not decode is no pairs.
fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

/// Records why a known monitor's request was refused and passes the error on.
fn refuse(
    state: &AppState,
    caller: Caller,
    monitor: &Monitor,
    body: &[u8],
    error: WebhookError,
) -> WebhookError {
    let status = error.status_code().as_u16();
    state
        .service
        .refused(monitor, caller, status, &error.to_string(), body);
    error
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

/// `PUT|POST /ntfy/{topic}`, `PUT|POST /{topic}` (Shoutrrr's `ntfy://`) and
/// `GET|POST /ntfy/{topic}/publish|send|trigger`: ntfy's publish API, the topic being the
/// monitor's webhook ID. Answered with ntfy's JSON message (Shoutrrr requires JSON).
async fn ntfy_publish(
    req: HttpRequest,
    topic: &str,
    action: Option<&str>,
    root: bool,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let caller = caller(&req);
    if action.is_some_and(|action| !matches!(action, "publish" | "send" | "trigger")) {
        return Ok(wrong_url(req, state).await);
    }
    // At the root, only what could be a webhook ID is a topic: any other path is a wrong
    // URL and says so (IDs that are not a monitor's are counted against guessing).
    if root && crate::domain::WebhookId::parse(topic).is_err() {
        return Ok(wrong_url(req, state).await);
    }
    let monitor = state.service.webhook_monitor(topic, caller).await?;
    let body = read_body(&state, caller, &monitor, payload).await?;
    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    state.service.authenticate(&monitor, &inbound, caller)?;
    let publish = ntfy::from_request(topic, &inbound, &query_pairs(&req))
        .map_err(|e| refuse(&state, caller, &monitor, &body, e.into()))?;
    ntfy_store(&state, caller, &monitor, publish).await
}

/// `POST|PUT /ntfy` and `/`: ntfy's JSON publishing (borgmatic's `ntfy` hook, Apprise's
/// `ntfy://`), the topic in the body.
async fn ntfy_json(
    req: HttpRequest,
    root: bool,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let caller = caller(&req);
    let body = read_unattributed(payload).await?;
    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    // Which monitor is only known once the body is read. At the root, a body that is not
    // ntfy's JSON was sent to a wrong URL, and is told so.
    let publish = match ntfy::from_json(&inbound) {
        Ok(publish) => publish,
        Err(_) if root => return Ok(wrong_url(req, state).await),
        Err(e) => return Err(e.into()),
    };
    let monitor = state
        .service
        .webhook_monitor(&publish.topic, caller)
        .await?;
    state.service.authenticate(&monitor, &inbound, caller)?;
    ntfy_store(&state, caller, &monitor, publish).await
}

async fn ntfy_store(
    state: &AppState,
    caller: Caller,
    monitor: &Monitor,
    publish: ntfy::Publish,
) -> Result<HttpResponse, WebhookError> {
    let answer = serde_json::json!({
        "id": format!("{:x}", jiff::Timestamp::now().as_nanosecond() as u64),
        "time": jiff::Timestamp::now().as_second(),
        "event": "message",
        "topic": publish.topic,
        "title": publish.notification.title,
        "message": publish.notification.message,
    });
    state
        .service
        .ingest(monitor, vec![publish.notification.into_event()], caller)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `POST /message` and `POST /{prefix}/message`: Gotify's message API, the application
/// token (`?token=`, `X-Gotify-Key` or a bearer token) being the monitor's webhook ID.
/// Answered with Gotify's JSON message (Shoutrrr requires JSON, Apprise exactly 200).
async fn gotify_message(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let caller = caller(&req);
    let body = read_unattributed(payload).await?;
    let headers = header_pairs(&req);
    let inbound = Inbound::new(&headers, &body, &state.settings.options.timezone);
    let query = query_pairs(&req);
    let token = gotify::token(&inbound, &query).ok_or_else(|| {
        WebhookError::from(senders::SenderError::Invalid(
            "no application token: set the token to this monitor's webhook ID (Gotify's ?token=, X-Gotify-Key or Authorization: Bearer)".into(),
        ))
    })?;
    let monitor = state.service.webhook_monitor(token, caller).await?;
    state.service.authenticate(&monitor, &inbound, caller)?;
    let notification =
        gotify::message(&inbound).map_err(|e| refuse(&state, caller, &monitor, &body, e.into()))?;
    let answer = serde_json::json!({
        "id": jiff::Timestamp::now().as_millisecond(),
        "appid": monitor.id,
        "message": notification.message,
        "title": notification.title,
        "priority": match notification.level {
            senders::Level::Priority { value, .. } => value,
            _ => 0,
        },
        "date": jiff::Timestamp::now().to_string(),
    });
    state
        .service
        .ingest(&monitor, vec![notification.into_event()], caller)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
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

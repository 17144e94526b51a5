//! The companion Home Assistant integration's calls on the webhook port (the relay itself
//! is a row of the webhook table). Each presents the integration key.
//!
//! - `GET /api/integration/monitors[?since=<version>]`: every monitor (the panel API's
//!   shape) and a version; with `since`, answered once something changed after that version
//!   or after 25 s: the integration registers webhook IDs within a moment of a change.
//! - `PUT /api/integration/home-assistant`: the URLs Home Assistant is reached at.
//! - `POST /api/integration/legacy`: takes over an entry of the replaced integration.
//! - `PUT|DELETE /api/integration/core`: Home Assistant's connection handed over by the
//!   integration (no token to paste in Home Assistant Container), or taken back.
//! - `POST /api/integration/pause` (`{"monitor": "nas", "for": "2h"}` or `"until"`) and
//!   `POST /api/integration/resume` (`{"monitor": "nas"}`): Home Assistant's actions.
//! - `/api/integration/panel/…`: the panel's pages, for the integration's proxy in Home
//!   Assistant's sidebar (routed in `web::webhook_routes`, guarded by the key).

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::AppState;
use super::errors::ApiError;
use super::views::MonitorJson;
use super::webhook::KEY_HEADER;
use crate::service::{Caller, HomeAssistantUrls, LegacyEntry};

/// The longest a change request is held open.
const LONGEST_WAIT: Duration = Duration::from_secs(25);
/// The largest body the integration sends (a few URLs, one legacy entry).
const MAX_BODY: usize = 16 * 1024;

pub(super) async fn call(
    req: &HttpRequest,
    call: &str,
    payload: web::Payload,
    state: &AppState,
) -> HttpResponse {
    answer(req, call, payload, state)
        .await
        .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e))
}

async fn answer(
    req: &HttpRequest,
    call: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let caller = Caller::from_peer(req.peer_addr().map(|a| a.ip()));
    let key = req.headers().get(KEY_HEADER).and_then(|v| v.to_str().ok());
    state.service.admit_integration(key, caller).await?;
    match (call, req.method()) {
        ("monitors", &Method::GET) => {
            state.service.integration_seen(None);
            monitors(req, state).await
        }
        ("home-assistant", &Method::PUT) => {
            let urls: HomeAssistantUrls = json_body(payload).await?;
            state.service.integration_seen(Some(urls));
            Ok(HttpResponse::NoContent().finish())
        }
        ("core", &Method::PUT) => {
            let link: CoreLink = json_body(payload).await?;
            state
                .service
                .link_core(&link.url, SecretString::from(link.token))
                .await?;
            Ok(HttpResponse::NoContent().finish())
        }
        ("core", &Method::DELETE) => {
            state.service.unlink_core().await?;
            Ok(HttpResponse::NoContent().finish())
        }
        ("legacy", &Method::POST) => {
            let entry: LegacyEntry = json_body(payload).await?;
            let (monitor, created) = state.service.adopt_legacy_entry(entry).await?;
            let view = state.service.view(monitor, 1).await?;
            let json = MonitorJson::new(state, req, &view);
            Ok(if created {
                HttpResponse::Created().json(json)
            } else {
                HttpResponse::Ok().json(json)
            })
        }
        ("pause" | "resume", &Method::POST) => {
            let body: PauseCall = json_body(payload).await?;
            let monitor = super::api::find(state, &body.monitor).await?;
            let until = match call {
                "pause" => Some(
                    super::api::PauseBody {
                        for_: body.for_,
                        until: body.until,
                    }
                    .until()?,
                ),
                _ => None,
            };
            let monitor = state.service.pause_monitor(&monitor, until).await?;
            let view = state.service.view(monitor, 1).await?;
            Ok(HttpResponse::Ok().json(MonitorJson::new(state, req, &view)))
        }
        ("monitors" | "home-assistant" | "legacy" | "core" | "pause" | "resume", _) => {
            Err(ApiError::BadRequest(format!(
                "{} is not answered at /api/integration/{call}",
                req.method()
            )))
        }
        _ => Err(ApiError::NotFound(format!(
            "the add-on has no /api/integration/{call}: update the integration and the add-on to the same release"
        ))),
    }
}

/// A pause or resume asked for in Home Assistant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseCall {
    /// The monitor's key (`nas`).
    monitor: String,
    #[serde(rename = "for", default)]
    for_: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// Home Assistant's connection, as the integration hands it over.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CoreLink {
    url: String,
    token: String,
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn monitors(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, ApiError> {
    let since = web::Query::<Since>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("?since= must be a version number ({e})")))?
        .since;
    let version = match since {
        Some(since) => state.service.next_change(since, LONGEST_WAIT).await,
        None => state.service.next_change(u64::MAX, Duration::ZERO).await,
    };
    let monitors: Vec<MonitorJson> = state
        .service
        .all_monitors()
        .await?
        .iter()
        .map(|view| MonitorJson::new(state, req, view))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "version": version,
            "monitors": monitors,
            // Under the Supervisor the panel is the add-on's ingress; otherwise the
            // integration serves it in Home Assistant's sidebar.
            "ingress": state.settings.supervisor.is_some(),
            // Whether entities reach Home Assistant; else the integration hands over a
            // connection (`PUT /api/integration/core`).
            "pushes": state.service.pushes_enabled(),
        })))
}

async fn json_body<T: serde::de::DeserializeOwned>(payload: web::Payload) -> Result<T, ApiError> {
    let body = payload
        .to_bytes_limited(MAX_BODY)
        .await
        .map_err(|_| ApiError::BadRequest(format!("the body is larger than {MAX_BODY} bytes")))?
        .map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not what was expected: {e}")))
}

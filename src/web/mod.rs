//! HTTP: the webhook listener's routes, and the ingress panel's pages and JSON API.

mod api;
mod assets;
mod charts;
mod errors;
mod ingress;
mod pages;
mod views;
mod webhook;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub use errors::{ApiError, PageError, WebhookError};
pub use ingress::Layout;
pub use webhook::Throttle;

use crate::config::Settings;
use crate::domain::{Grace, HistoryLimit, MonitorName, NewMonitor, Schedule, WebhookId};
use crate::ha::Publisher;
use crate::status::MonitorSummary;
use crate::store::{MonitorChanges, MonitorRecord, Origin, PushStatus, Store, StoreError};

/// What every handler may use; shared by both listeners.
pub struct AppState {
    pub store: Store,
    pub publisher: Publisher,
    pub settings: Arc<Settings>,
    /// The port the webhook listener really bound (the setting may say 0).
    pub webhook_port: u16,
    pub throttle: webhook::Throttle,
    /// What the Supervisor says about the host's address and port mapping; refreshed.
    pub address: std::sync::RwLock<crate::ha::WebhookAddress>,
}

/// Routes of the webhook listener (the port exposed to the LAN).
pub fn webhook_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .service(
            web::resource("/api/webhook/{id}")
                .route(web::post().to(webhook::receive))
                .route(web::put().to(webhook::receive)),
        )
        .route("/ping/{id}", web::route().to(webhook::ping))
        .route("/ping/{id}/{signal}", web::route().to(webhook::ping))
        .route("/api/push/{id}", web::route().to(webhook::push));
}

/// Routes of the ingress listener. Everything but the health check sits behind the peer
/// guard and the same-origin check.
pub fn ui_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).service(
        web::scope("")
            .wrap(actix_web::middleware::from_fn(ingress::guard))
            // Pages load only their own scripts and styles, and may be framed only by Home
            // Assistant (same origin through ingress); never `X-Frame-Options: DENY`.
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((
                        "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; \
                         form-action 'self'; base-uri 'self'; object-src 'none'",
                    ))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin")),
            )
            .route("/", web::get().to(pages::dashboard))
            .route("/monitors/new", web::get().to(pages::new_monitor_form))
            .route("/monitors", web::post().to(pages::create_monitor))
            .route("/monitors/{key}", web::get().to(pages::monitor_page))
            .route("/monitors/{key}/edit", web::get().to(pages::edit_form))
            .route("/monitors/{key}/edit", web::post().to(pages::save_edit))
            .route(
                "/monitors/{key}/rotate",
                web::get().to(pages::confirm_rotate),
            )
            .route(
                "/monitors/{key}/rotate",
                web::post().to(pages::rotate_webhook_id),
            )
            .route(
                "/monitors/{key}/delete",
                web::get().to(pages::confirm_delete),
            )
            .route(
                "/monitors/{key}/delete",
                web::post().to(pages::delete_monitor),
            )
            .route(
                "/monitors/{key}/test",
                web::post().to(pages::send_test_event),
            )
            .route("/static/{file}", web::get().to(assets::serve))
            .route("/api/status", web::get().to(api::status))
            .route("/api/monitors", web::get().to(api::list_monitors))
            .route("/api/monitors", web::post().to(api::create_monitor))
            .route("/api/monitors/{key}", web::get().to(api::get_monitor))
            .route("/api/monitors/{key}", web::patch().to(api::update_monitor))
            .route("/api/monitors/{key}", web::delete().to(api::delete_monitor))
            .route(
                "/api/monitors/{key}/events",
                web::get().to(api::list_events),
            )
            .route(
                "/api/monitors/{key}/rejections",
                web::get().to(api::list_rejections),
            )
            .default_service(web::to(pages::not_found)),
    );
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// A new monitor as the panel's form and the JSON API send it.
#[derive(Debug, Default, Deserialize)]
pub struct MonitorInput {
    pub name: String,
    #[serde(default)]
    pub webhook_id: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub history_limit: Option<i64>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub schedule: Option<serde_json::Value>,
    #[serde(default)]
    pub grace: Option<String>,
}

/// An edit: absent fields stay as they are; `null` removes a secret or a schedule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub history_limit: Option<i64>,
    #[serde(default)]
    pub secret: Option<serde_json::Value>,
    #[serde(default)]
    pub schedule: Option<serde_json::Value>,
    #[serde(default)]
    pub grace: Option<String>,
}

/// HTML forms send every field as text, JSON clients send numbers; both mean the same.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(Raw::Text(t)) => {
            t.trim().parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("history_limit {t:?} is not a number"))
            })
        }
    }
}

impl AppState {
    /// Parses the input, creates the monitor and queues its first push.
    pub async fn create_monitor(&self, input: MonitorInput) -> Result<MonitorRecord, ApiError> {
        let schedule = self.parse_schedule(input.schedule.as_ref())?;
        let grace = parse_grace(input.grace.as_deref())?.unwrap_or(Grace::DEFAULT);
        let name = MonitorName::parse(&input.name)?;
        let webhook_id = match input
            .webhook_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(chosen) => WebhookId::parse(chosen)?,
            None => WebhookId::generate(),
        };
        let history_limit = match input.history_limit {
            Some(n) => HistoryLimit::parse(n)?,
            None => self.settings.options.history_limit,
        };
        let secret = parse_secret(input.secret.as_deref().unwrap_or(""))?;
        if webhook_id.looks_weak() {
            tracing::warn!(webhook_id = %webhook_id.masked(), "a chosen webhook ID looks guessable");
        }
        let monitor = self
            .store
            .create_monitor(
                NewMonitor {
                    name,
                    webhook_id,
                    history_limit,
                    secret,
                    schedule,
                    grace,
                },
                Origin::Ui,
            )
            .await?;
        tracing::info!(monitor = %monitor.key, "monitor created");
        self.publisher.monitor_changed(&monitor.key);
        Ok(monitor)
    }

    /// Parses an edit and applies it; monitors declared in the add-on options are edited there.
    pub async fn update_monitor(
        &self,
        monitor: &MonitorRecord,
        patch: MonitorPatch,
    ) -> Result<MonitorRecord, ApiError> {
        refuse_if_declared(monitor)?;
        let mut changes = MonitorChanges::default();
        if let Some(name) = &patch.name {
            changes.name = Some(MonitorName::parse(name)?);
        }
        if let Some(limit) = patch.history_limit {
            changes.history_limit = Some(HistoryLimit::parse(limit)?);
        }
        match patch.secret {
            None => {}
            Some(serde_json::Value::Null) => changes.secret = Some(None),
            Some(serde_json::Value::String(secret)) => {
                changes.secret = Some(parse_secret(&secret)?)
            }
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "secret must be a string, or null to remove it".into(),
                ));
            }
        }
        if let Some(schedule) = &patch.schedule {
            changes.schedule = Some(self.parse_schedule(Some(schedule))?);
        }
        changes.grace = parse_grace(patch.grace.as_deref())?;
        let updated = self.store.update_monitor(monitor.id, changes).await?;
        tracing::info!(monitor = %updated.key, "monitor updated");
        self.publisher.monitor_changed(&updated.key);
        Ok(updated)
    }

    /// Every monitor with its current summary and Home Assistant push status, in a handful
    /// of queries for all of them (dashboard, monitor list, status).
    pub async fn all_monitors(
        &self,
    ) -> Result<Vec<(MonitorRecord, MonitorSummary, PushStatus)>, StoreError> {
        let monitors = self.store.monitors().await?;
        let mut runs = self.store.all_monitor_runs().await?;
        let mut pushes = self.store.push_statuses().await?;
        Ok(monitors
            .into_iter()
            .map(|m| {
                let summary = MonitorSummary::of(&m, runs.remove(&m.id).unwrap_or_default());
                let push = pushes.remove(&m.id).unwrap_or_default();
                (m, summary, push)
            })
            .collect())
    }

    /// Deletes a monitor with its history and removes its entities from Home Assistant.
    pub async fn delete_monitor(&self, monitor: &MonitorRecord) -> Result<(), ApiError> {
        refuse_if_declared(monitor)?;
        self.store.delete_monitor(monitor.id).await?;
        tracing::info!(monitor = %monitor.key, "monitor deleted");
        self.publisher.outbox_changed();
        Ok(())
    }

    /// A schedule as the API and forms send it: `{"every": "1d"}`, `{"cron": "…", "tz": "…"}`,
    /// or the short text form (`1d`, `0 3 * * *`); empty or null means none.
    pub fn parse_schedule(
        &self,
        value: Option<&serde_json::Value>,
    ) -> Result<Option<Schedule>, ApiError> {
        let zone = &self.settings.options.timezone_name;
        Ok(match value {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => None,
            Some(serde_json::Value::String(text)) => Some(Schedule::from_text(text, zone)?),
            Some(other) => Some(Schedule::from_json(other, zone)?),
        })
    }

    /// The URL a backup tool must call: the `webhook_base_url` option if set; else the host's
    /// LAN address (from the Supervisor), Core's `internal_url` host, or the host the browser
    /// used, with the host port the Supervisor maps to the webhook listener.
    pub fn webhook_url(&self, req: &HttpRequest, id: &WebhookId) -> String {
        format!("{}/api/webhook/{}", self.webhook_base(req), id.as_str())
    }

    /// `http://host:port` of the webhook listener as backup tools reach it.
    pub fn webhook_base(&self, req: &HttpRequest) -> String {
        if let Some(base) = &self.settings.options.webhook_base_url {
            return base.clone();
        }
        let address = self
            .address
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let host = address.host.unwrap_or_else(|| request_host(req));
        let port = match address.port {
            Some(Some(port)) => port,
            _ => self.webhook_port,
        };
        format!("http://{host}:{port}")
    }

    /// The Supervisor says the user disabled the webhook port (Network: empty).
    pub fn webhook_port_disabled(&self) -> bool {
        self.settings.options.webhook_base_url.is_none()
            && self.address.read().unwrap_or_else(|p| p.into_inner()).port == Some(None)
    }
}

fn refuse_if_declared(monitor: &MonitorRecord) -> Result<(), ApiError> {
    if monitor.origin == Origin::Options {
        return Err(ApiError::Conflict(
            "this monitor is declared in the add-on options; change or remove it there".into(),
        ));
    }
    Ok(())
}

/// An empty secret means none; a short one is refused.
fn parse_secret(text: &str) -> Result<Option<secrecy::SecretString>, ApiError> {
    match text.trim() {
        "" => Ok(None),
        s if s.chars().count() < 8 => Err(ApiError::BadRequest(
            "a secret needs at least 8 characters".into(),
        )),
        s => Ok(Some(secrecy::SecretString::from(s.to_owned()))),
    }
}

fn parse_grace(text: Option<&str>) -> Result<Option<Grace>, ApiError> {
    Ok(match text.map(str::trim).filter(|g| !g.is_empty()) {
        Some(text) => Some(Grace::parse(text)?),
        None => None,
    })
}

/// The host name the browser used, without its port (`X-Forwarded-Host` under ingress).
fn request_host(req: &HttpRequest) -> String {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("homeassistant.local");
    let host = host.split(',').next().unwrap_or_default().trim();
    let without_port = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let valid = !without_port.is_empty()
        && without_port
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if valid {
        without_port.to_owned()
    } else {
        "homeassistant.local".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_request_host_loses_its_port_and_nonsense() {
        let host = |h: &str| {
            request_host(
                &TestRequest::default()
                    .insert_header(("host", h))
                    .to_http_request(),
            )
        };
        assert_eq!(host("192.168.1.5:8123"), "192.168.1.5");
        assert_eq!(host("homeassistant.local"), "homeassistant.local");
        assert_eq!(host("[fd00::1]:8123"), "[fd00::1]");
        assert_eq!(host("evil\"><script>"), "homeassistant.local");
        let forwarded = TestRequest::default()
            .insert_header(("host", "172.30.32.2:8099"))
            .insert_header(("x-forwarded-host", "ha.lan:8123"))
            .to_http_request();
        assert_eq!(request_host(&forwarded), "ha.lan");
    }
}

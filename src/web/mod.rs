//! HTTP: the webhook listener's routes, and the ingress panel's pages and JSON API.

mod api;
mod assets;
mod charts;
mod errors;
mod ingress;
mod integration;
mod listener;
mod pages;
mod views;
mod webhook;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

pub use errors::{ApiError, PageError};
pub use ingress::Layout;
pub use listener::serve_webhooks;

use crate::config::Settings;
use crate::domain::WebhookId;
use crate::service::Service;

/// What every handler may use; shared by both listeners. Handlers reach the database only
/// through the use cases in `service`.
pub struct AppState {
    pub service: Service,
    pub settings: Arc<Settings>,
    /// The port the webhook listener really bound (the setting may say 0).
    pub webhook_port: u16,
    /// What the Supervisor says about the host's address and port mapping; refreshed.
    pub address: std::sync::RwLock<crate::ha::WebhookAddress>,
}

/// Routes of the webhook listener (the port exposed to the LAN): one service that reads
/// the path itself ([`webhook::dispatch`]).
pub fn webhook_routes(cfg: &mut web::ServiceConfig) {
    // The panel for the Home Assistant integration's proxy (Home Assistant without a
    // Supervisor): behind the integration key instead of the ingress peer check.
    cfg.service(
        web::scope("/api/integration/panel")
            .wrap(actix_web::middleware::from_fn(ingress::integration_guard))
            .wrap(security_headers())
            .configure(panel_pages),
    )
    .default_service(web::to(webhook::dispatch));
}

/// Routes of the ingress listener. Everything but the health check sits behind the peer
/// guard and the same-origin check.
pub fn ui_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).service(
        web::scope("")
            .wrap(actix_web::middleware::from_fn(ingress::guard))
            .wrap(security_headers())
            .configure(panel_pages),
    );
}

/// Pages load only their own scripts and styles, and may be framed only by Home Assistant
/// (same origin through ingress or the integration's proxy); never `X-Frame-Options: DENY`.
fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; \
             form-action 'self'; base-uri 'self'; object-src 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
}

/// The panel's pages and JSON API (the scope they are put in decides who may see them).
fn panel_pages(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::dashboard))
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
        .route(
            "/monitors/{key}/retire",
            web::post().to(pages::retire_source),
        )
        .route(
            "/monitors/{key}/learned-schedule",
            web::post().to(pages::apply_learned_schedule),
        )
        .route(
            "/monitors/{key}/pause",
            web::post().to(pages::pause_monitor),
        )
        .route(
            "/ping-key/rotate",
            web::get().to(pages::confirm_rotate_ping_key),
        )
        .route("/ping-key/rotate", web::post().to(pages::rotate_ping_key))
        .route(
            "/integration-key/rotate",
            web::get().to(pages::confirm_rotate_integration_key),
        )
        .route(
            "/integration-key/rotate",
            web::post().to(pages::rotate_integration_key),
        )
        .route("/static/{file}", web::get().to(assets::serve))
        .route("/api/status", web::get().to(api::status))
        .route("/api/changes", web::get().to(api::changes))
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
        .route(
            "/api/monitors/{key}/sources/retire",
            web::post().to(api::retire_source),
        )
        .route(
            "/api/monitors/{key}/learned-schedule",
            web::post().to(api::apply_learned_schedule),
        )
        .route(
            "/api/monitors/{key}/pause",
            web::post().to(api::pause_monitor),
        )
        .route(
            "/api/monitors/{key}/resume",
            web::post().to(api::resume_monitor),
        )
        .default_service(web::to(pages::not_found));
}

/// A webhook path fit for the log: every segment that may hold a webhook ID or the ping
/// key shows its first four characters only (`/api/webhook/abcd…`, `/ping/abcd…/start`).
/// That is any segment of 12 characters or more (IDs are 16 or more, and mistyped or cut
/// ones must not leak either: `/api/webhooks/<id>`, `/ping//<id>`), and whatever follows
/// `webhook`, `ping`, `push` or `ntfy`.
pub(super) fn masked_path(path: &str) -> String {
    let mask = |segment: &str| format!("{}…", segment.chars().take(4).collect::<String>());
    let mut out = Vec::new();
    let mut after_key_word = false;
    for segment in path.split('/') {
        let long = segment.chars().count() >= 12;
        if long || (after_key_word && !segment.is_empty()) {
            out.push(mask(segment));
        } else {
            out.push(segment.to_owned());
        }
        after_key_word = matches!(
            segment,
            "webhook" | "webhooks" | "ping" | "push" | "ntfy" | "relay"
        ) || (after_key_word && segment.is_empty());
    }
    out.join("/")
}

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

impl AppState {
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
    fn request_paths_are_logged_with_the_id_masked() {
        assert_eq!(
            masked_path("/api/webhook/abcdefghijklmnopqrstuv"),
            "/api/webhook/abcd…"
        );
        assert_eq!(
            masked_path("/ping/abcdefghijklmnopqrstuv/start"),
            "/ping/abcd…/start"
        );
        assert_eq!(masked_path("/api/push/abcdefghijklmnop"), "/api/push/abcd…");
        assert_eq!(masked_path("/healthz"), "/healthz");
        assert_eq!(
            masked_path("/api/webhooks/abcdefghijklmnopqrstuv"),
            "/api/webhooks/abcd…"
        );
        assert_eq!(masked_path("/ping//abcdefghijklmnopqrstuv"), "/ping//abcd…");
        assert_eq!(masked_path("/hooks/abcdefghijklmn/x"), "/hooks/abcd…/x");
        assert_eq!(masked_path("/abcdefghijklmnopq"), "/abcd…");
    }

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

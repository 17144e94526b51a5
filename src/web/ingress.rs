//! Home Assistant ingress: only the Supervisor may open the panel, pages live under a
//! per-install path prefix, and POSTs must come from the panel itself.

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::AppState;

/// What `templates/base.html` needs from every page.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<base href>`: the ingress prefix with a trailing slash, or `/`.
    pub base_href: String,
    /// Home Assistant pushes are off (no token): the panel says so on every page.
    pub pushes_disabled: bool,
    pub version: &'static str,
    /// Changes whenever the CSS or JavaScript does (cache busting).
    pub asset_tag: &'static str,
}

impl Layout {
    /// Turns a use case's error into this page's error page: `.map_err(layout.fail())?`.
    pub fn fail<E: Into<super::ApiError>>(&self) -> impl Fn(E) -> super::PageError + '_ {
        move |error| super::PageError::new(self, error)
    }

    /// The ingress prefix from `X-Ingress-Path`, if it has the shape the Supervisor gives
    /// it (`/api/hassio_ingress/<token>`); anything else could inject into the page.
    pub fn from_request(req: &HttpRequest) -> Self {
        let base_href = req
            .headers()
            .get("x-ingress-path")
            .and_then(|v| v.to_str().ok())
            .filter(|path| is_ingress_path(path))
            .map_or_else(|| "/".to_owned(), |path| format!("{path}/"));
        let pushes_disabled = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| !state.service.pushes_enabled());
        Self {
            base_href,
            pushes_disabled,
            version: env!("CARGO_PKG_VERSION"),
            asset_tag: super::assets::ASSET_TAG.as_str(),
        }
    }
}

impl FromRequest for Layout {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::from_request(req)))
    }
}

/// Where the companion integration serves the panel in Home Assistant (without a
/// Supervisor): its proxy sends this as the ingress path.
pub const INTEGRATION_PANEL_PATH: &str = "/api/kopia_webhook/panel";

fn is_ingress_path(path: &str) -> bool {
    path == INTEGRATION_PANEL_PATH
        || path
            .strip_prefix("/api/hassio_ingress/")
            .is_some_and(|token| {
                !token.is_empty()
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
}

/// Lets through only the Supervisor's ingress proxy (checked on the socket peer, never on
/// forwarded headers), or loopback when run locally; and for state-changing methods only
/// requests from the panel's own origin.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let (trusted, loopback_ok) = match req.app_data::<web::Data<AppState>>() {
        Some(state) => (
            state.settings.trusted_proxy,
            state.settings.allow_loopback_ui,
        ),
        None => {
            return Err(actix_web::error::ErrorInternalServerError(
                "app state missing",
            ));
        }
    };
    // A backup tool pointed at the panel's port instead of the webhook port.
    let path = req.path();
    if path.starts_with("/api/webhook/")
        || path.starts_with("/ping/")
        || path.starts_with("/api/push/")
    {
        let base = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.webhook_base(req.request()))
            .unwrap_or_default();
        tracing::info!(method = %req.method(), "a webhook was sent to the panel's port instead of the webhook port");
        let response = HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "This is the add-on's panel port, not its webhook port. Send reports to the \
                 webhook port, with the same path:\n{base}{path}\n"
            ));
        return Ok(req.into_response(response).map_into_right_body());
    }
    let peer_allowed = req.peer_addr().is_some_and(|addr| {
        let ip = addr.ip().to_canonical();
        Some(ip) == trusted || (loopback_ok && ip.is_loopback())
    });
    if !peer_allowed {
        return Ok(forbidden(
            req,
            "This panel is only reachable through Home Assistant: open it from the sidebar.\n",
        ));
    }
    if changes_state_from_elsewhere(&req) {
        return Ok(forbidden(
            req,
            "Refused: this request did not come from the add-on's own panel.\n",
        ));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The panel through the Home Assistant integration's proxy (on the webhook port): only with
/// the integration key, and for state-changing methods only from the panel's own origin
/// (the proxy forwards the browser's host).
pub async fn integration_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "app state missing",
        ));
    };
    let key = req
        .headers()
        .get(super::webhook::KEY_HEADER)
        .and_then(|v| v.to_str().ok());
    let caller = crate::service::Caller::from_peer(req.peer_addr().map(|a| a.ip()));
    if let Err(error) = state.service.admit_integration(key, caller).await {
        let response = actix_web::ResponseError::error_response(&super::ApiError::from(error));
        return Ok(req.into_response(response).map_into_right_body());
    }
    if changes_state_from_elsewhere(&req) {
        return Ok(forbidden(
            req,
            "Refused: this request did not come from the add-on's own panel.\n",
        ));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A POST (or any method that changes something) a browser sent from another page.
fn changes_state_from_elsewhere(req: &ServiceRequest) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !same_origin(req.request())
}

/// A plain-text 403 in place of the page.
fn forbidden<B>(req: ServiceRequest, text: &'static str) -> ServiceResponse<EitherBody<B>> {
    let response = HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body(text);
    req.into_response(response).map_into_right_body()
}

/// Browsers say where a request comes from; other clients (curl, scripts) say nothing and
/// are already limited by the peer check.
fn same_origin(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    if let Some(origin) = header("origin") {
        let origin_host = origin.split_once("://").map(|(_, host)| host);
        let host = header("x-forwarded-host").or_else(|| header("host"));
        return origin_host.is_some() && origin_host == host;
    }
    true
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_supervisor_shaped_ingress_paths_become_the_base() {
        let base = |p: &str| {
            Layout::from_request(
                &TestRequest::default()
                    .insert_header(("x-ingress-path", p))
                    .to_http_request(),
            )
            .base_href
        };
        assert_eq!(
            base("/api/hassio_ingress/abc-DEF_123"),
            "/api/hassio_ingress/abc-DEF_123/"
        );
        assert_eq!(base("/api/hassio_ingress/"), "/");
        assert_eq!(base("/api/hassio_ingress/x\"><script>"), "/");
        assert_eq!(base("//evil.example/"), "/");
        assert_eq!(
            Layout::from_request(&TestRequest::default().to_http_request()).base_href,
            "/"
        );
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let req = |headers: &[(&str, &str)]| {
            let mut r = TestRequest::default();
            for h in headers {
                r = r.insert_header(*h);
            }
            same_origin(&r.to_http_request())
        };
        assert!(req(&[("sec-fetch-site", "same-origin")]));
        assert!(!req(&[("sec-fetch-site", "cross-site")]));
        assert!(req(&[
            ("origin", "http://ha.lan:8123"),
            ("host", "ha.lan:8123")
        ]));
        assert!(!req(&[
            ("origin", "http://evil.example"),
            ("host", "ha.lan:8123")
        ]));
        assert!(req(&[]));
    }
}

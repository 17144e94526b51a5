//! Errors of the web layer and the HTTP answers they become.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::service::ServiceError;
use crate::telemetry::ErrorChain;

/// A refused webhook delivery as the sender is told: the status the use case names, and
/// a short plain-text body (backup tools log it, and people read those logs).
pub fn webhook_refusal(error: &ServiceError) -> HttpResponse {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Some(secs) = error.retry_after() {
        response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
    }
    let text = match error {
        ServiceError::Store(e) => {
            tracing::error!(error = %ErrorChain(e), "a webhook could not be stored");
            "the event could not be stored; the sender should retry".to_owned()
        }
        other => ErrorChain(other).to_string(),
    };
    response
        .content_type("text/plain; charset=utf-8")
        .body(format!("{text}\n"))
}

/// Errors of the panel's JSON API: `{"error": "..."}` with a fitting status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The integration key was wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// Busy or throttled: try again later (`Retry-After` says when).
    #[error("{message}")]
    Unavailable { message: String, retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid(e) => Self::BadRequest(e.0),
            ServiceError::NoToken
            | ServiceError::TooLarge { .. }
            | ServiceError::SlowBody { .. }
            | ServiceError::Body(_)
            | ServiceError::Unreadable(_) => Self::BadRequest(ErrorChain(&error).to_string()),
            ServiceError::NoSuchMonitor(_) | ServiceError::UnknownWebhook => {
                Self::NotFound(error.to_string())
            }
            ServiceError::Conflict(reason) => Self::Conflict(reason),
            ServiceError::Unauthorized(_) => Self::Conflict(error.to_string()),
            ServiceError::WrongKey => Self::Unauthorized(error.to_string()),
            ServiceError::TooMany { retry_after } | ServiceError::Busy { retry_after } => {
                Self::Unavailable {
                    message: error.to_string(),
                    retry_after,
                }
            }
            ServiceError::Store(ref e) => {
                tracing::error!(error = %ErrorChain(e), "storage failed");
                Self::Internal(ErrorChain(&error).to_string())
            }
        }
    }
}

impl From<crate::domain::ParseError> for ApiError {
    fn from(error: crate::domain::ParseError) -> Self {
        Self::BadRequest(error.0)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Unavailable { retry_after, .. } = self {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                retry_after.to_string(),
            ));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}

/// Errors of the panel's pages: the same cases as the API, shown as a page that keeps the
/// panel's navigation (so it carries the request's layout).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct PageError {
    layout: super::Layout,
    error: ApiError,
}

impl PageError {
    pub fn new(layout: &super::Layout, error: impl Into<ApiError>) -> Self {
        Self {
            layout: layout.clone(),
            error: error.into(),
        }
    }
}

impl From<askama::Error> for ApiError {
    fn from(error: askama::Error) -> Self {
        tracing::error!(%error, "a page did not render");
        Self::Internal(format!("could not render the page: {error}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: &'a super::Layout,
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "That did not work",
            StatusCode::CONFLICT => "Already taken",
            StatusCode::SERVICE_UNAVAILABLE => "Busy: try again in a moment",
            _ => "Something went wrong",
        };
        let page = ErrorPage {
            layout: &self.layout,
            title,
            message: self.error.to_string(),
        };
        match page.render() {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(_) => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(self.error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_database_queue_asks_the_sender_to_retry() {
        let busy = ServiceError::from(crate::store::StoreError::Busy);
        let response = webhook_refusal(&busy);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    }

    #[test]
    fn a_busy_database_is_a_503_in_the_api_too() {
        let busy = ApiError::from(ServiceError::from(crate::store::StoreError::Busy));
        let response = busy.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    }

    #[test]
    fn store_failures_keep_their_cause() {
        let cause = rusqlite::Error::InvalidQuery;
        let error = ServiceError::from(crate::store::StoreError::from(cause));
        let text = ErrorChain(&error).to_string();
        assert!(
            text.starts_with("the database failed: database error: "),
            "{text}"
        );
    }
}

//! Errors of the web layer and the HTTP answers they become.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::senders::SenderError;
use crate::store::StoreError;

/// Why a webhook delivery was not accepted. Bodies are short plain text: backup tools log
/// them, and people read those logs.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Also for IDs that are malformed: no hint whether an ID exists.
    #[error("not found")]
    UnknownId,
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("too many requests for this webhook; retry in {retry_after} s")]
    TooMany { retry_after: u64 },
    #[error("could not read the request body: {0}")]
    Payload(String),
    #[error(transparent)]
    Invalid(#[from] SenderError),
    #[error(transparent)]
    Unauthorized(#[from] crate::signature::SignatureError),
    #[error("the event could not be stored ({0}); the sender should retry")]
    Store(#[from] StoreError),
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownId => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Payload(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Self::TooMany { retry_after } = self {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                retry_after.to_string(),
            ));
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
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
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(reason) => Self::Conflict(reason),
            other => {
                tracing::error!(error = %other, "storage failed");
                Self::Internal(other.to_string())
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
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.to_string() }))
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

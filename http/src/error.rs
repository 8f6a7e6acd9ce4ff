//! One JSON error body for every failure. The status of each answer is its
//! [`Code`]'s, from the one table (`blytz_actors::Code`).
//!
//! `{"error":{"code":"bid_too_low","message":"...","details":{...}}}`.
//! Internal errors log their cause chain and reach the client as a plain 500
//! ([`ErrorBody::internal`]) whose details carry only the request id (added
//! by [`crate::middleware`]).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use blytz::{Code, Error};
use serde::Serialize;
use serde_json::{Map, Value};

/// An error as the API answers it.
#[derive(Debug)]
pub enum ApiError {
    /// A failure from a service (validation, auth, conflict, internal, ...).
    Domain(Error),
    /// A request that could not be read (bad JSON, bad path or query, too large).
    Request {
        /// Stable code, e.g. `invalid_json`; it gives the status.
        code: Code,
        /// A sentence for people.
        message: String,
        /// Extra facts.
        details: Map<String, Value>,
    },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Domain(e) => write!(f, "{e}"),
            Self::Request { message, .. } => f.write_str(message),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Domain(Error::Internal(e))
    }
}

/// The HTTP status of a code, from the one table.
pub fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Facts beside the message, e.g. `{"field":"email","rule":"email"}`.
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

impl ErrorBody {
    /// A body from its parts.
    pub fn new(code: Code, message: impl Into<String>, details: Map<String, Value>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
                details,
            },
        }
    }

    /// The body of every 500: the plain code and message, and only the
    /// request id (when known) as details; the cause stays in the log.
    pub fn internal(request_id: Option<&str>) -> Self {
        let mut details = Map::new();
        if let Some(id) = request_id {
            details.insert("request_id".into(), Value::from(id));
        }
        Self::new(Code::Internal, Code::Internal.message(), details)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Domain(e) => status_of(e.code()),
            Self::Request { code, .. } => status_of(*code),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = match self {
            Self::Domain(Error::Internal(cause)) => {
                tracing::error!(error = ?cause, "internal error");
                ErrorBody::internal(None)
            }
            Self::Domain(e) => ErrorBody::new(e.code(), e.to_string(), e.details()),
            Self::Request {
                code,
                message,
                details,
                ..
            } => ErrorBody::new(*code, message.clone(), details.clone()),
        };
        let mut response = HttpResponse::build(status);
        if let Self::Domain(Error::RateLimited { retry_after_secs }) = self {
            response.insert_header((
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(&1).to_owned()),
            ));
        }
        response.json(body)
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

fn request_error(code: Code, message: String) -> ApiError {
    ApiError::Request {
        code,
        message,
        details: Map::new(),
    }
}

/// Turns body parse failures into the JSON error body: syntax errors are 400
/// `invalid_json`; well-formed JSON of the wrong shape is 422
/// `validation_failed`, naming the field when serde says which.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            request_error(Code::PayloadTooLarge, err.to_string())
        }
        E::ContentType => request_error(
            Code::UnsupportedMediaType,
            Code::UnsupportedMediaType.message().to_owned(),
        ),
        E::Deserialize(e) if e.is_data() => {
            let text = e.to_string();
            let field = field_in_serde_message(&text);
            let mut details = Map::new();
            if let Some(field) = &field {
                details.insert("field".into(), Value::from(field.as_str()));
            }
            details.insert("rule".into(), Value::from("schema"));
            ApiError::Request {
                code: Code::ValidationFailed,
                message: text,
                details,
            }
        }
        _ => request_error(Code::InvalidJson, err.to_string()),
    };
    api.into()
}

/// Path segments that do not parse (e.g. a malformed id) are 404 `not_found`.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::Request {
        code: Code::NotFound,
        message: format!("no such resource: {err}"),
        details: Map::new(),
    }
    .into()
}

/// Query strings that do not parse are 422 `validation_failed`.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    let text = err.to_string();
    let mut details = Map::new();
    if let Some(field) = field_in_serde_message(&text) {
        details.insert("field".into(), Value::from(field));
    }
    details.insert("rule".into(), Value::from("schema"));
    ApiError::Request {
        code: Code::ValidationFailed,
        message: text,
        details,
    }
    .into()
}

/// serde names a field in backticks: "missing field `email`", "unknown field `x`".
fn field_in_serde_message(text: &str) -> Option<String> {
    let rest = text
        .split_once("missing field `")
        .or_else(|| text.split_once("unknown field `"))?
        .1;
    rest.split_once('`').map(|(field, _)| field.to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use blytz::{Code, Error};

    use super::{ApiError, field_in_serde_message};

    /// The error codes documented for clients.
    const DOCS: &str = include_str!("../../docs/errors.md");

    #[test]
    fn every_code_answers_its_status_and_is_documented() {
        for &code in Code::ALL {
            let api = ApiError::from(Error::code_only(code));
            assert_eq!(api.status_code().as_u16(), code.status(), "{code}");
            let body = actix_web::body::to_bytes(api.error_response().into_body());
            let body = futures_util::FutureExt::now_or_never(body)
                .expect("a JSON body is ready at once")
                .expect("a body");
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"]["code"], code.as_str());
            let row = format!("| `{}` | {} |", code.as_str(), code.status());
            assert!(DOCS.contains(&row), "docs/errors.md lacks the row {row}");
        }
        let rows = DOCS.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            Code::ALL.len(),
            "docs/errors.md lists a code the table does not have"
        );
    }

    #[test]
    fn finds_the_field_in_serde_messages() {
        assert_eq!(
            field_in_serde_message("missing field `email` at line 1 column 2").as_deref(),
            Some("email")
        );
        assert_eq!(field_in_serde_message("invalid type: string"), None);
    }
}

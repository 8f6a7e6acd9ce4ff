//! The error every service in this crate returns.
//!
//! Each variant carries a stable, machine-readable `code` (snake_case) and a
//! message a person can read. The HTTP crate maps [`ErrorKind`] to a status
//! code in one table; nothing here knows about HTTP.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// What went wrong, as a client should understand it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of the request breaks a rule.
    #[error("{field}: {message}")]
    Validation {
        /// The request field, e.g. `email`.
        field: Cow<'static, str>,
        /// The rule it breaks, e.g. `email` or `min_length`.
        rule: Cow<'static, str>,
        /// A sentence for people.
        message: Cow<'static, str>,
    },
    /// The caller is not (or no longer) authenticated.
    #[error("{message}")]
    Unauthorized {
        /// e.g. `invalid_credentials`, `invalid_token`, `token_reused`.
        code: &'static str,
        /// A sentence for people.
        message: Cow<'static, str>,
    },
    /// The caller is authenticated but may not do this.
    #[error("{message}")]
    Forbidden {
        /// e.g. `forbidden`, `own_auction`.
        code: &'static str,
        /// A sentence for people.
        message: Cow<'static, str>,
    },
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `user`.
        what: &'static str,
    },
    /// The request clashes with the current state.
    #[error("{message}")]
    Conflict {
        /// e.g. `email_taken`, `invalid_transition`.
        code: &'static str,
        /// A sentence for people.
        message: Cow<'static, str>,
        /// Extra facts for the client.
        details: Map<String, Value>,
    },
    /// Too many requests; retry after the given number of seconds.
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until a retry may succeed (at least 1).
        retry_after_secs: u64,
    },
    /// A feature needs a setting that is not configured.
    #[error("{message}")]
    Unavailable {
        /// e.g. `streaming_not_configured`.
        code: &'static str,
        /// A sentence for people.
        message: Cow<'static, str>,
    },
    /// A business rule refused the request (e.g. `bid_too_low`,
    /// `auction_closed`), with the family that picks its status.
    #[error("{message}")]
    Rule {
        /// The family (validation, conflict, forbidden, ...).
        kind: ErrorKind,
        /// The rule's stable code.
        code: &'static str,
        /// A sentence for people.
        message: Cow<'static, str>,
        /// Facts for the client, e.g. `{"min_bid":1600}`.
        details: Map<String, Value>,
    },
    /// Anything unexpected. Its cause is logged, never shown to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The family of an [`Error`]; the HTTP crate maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request cannot be parsed.
    BadRequest,
    /// 422: a field breaks a rule.
    Validation,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 409
    Conflict,
    /// 429
    RateLimited,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

impl Error {
    /// A validation error naming the field and the rule it breaks.
    pub fn validation(
        field: impl Into<Cow<'static, str>>,
        rule: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Validation {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }

    /// A 401 with the given code.
    pub fn unauthorized(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    /// A 403 with code `forbidden`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden {
            code: "forbidden",
            message: message.into(),
        }
    }

    /// A 409 with the given code and no details.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation_failed",
            Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unavailable { code, .. }
            | Self::Rule { code, .. } => code,
            Self::NotFound { .. } => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }

    /// The family, for the status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Validation { .. } => ErrorKind::Validation,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::Forbidden { .. } => ErrorKind::Forbidden,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
            Self::Rule { kind, .. } => *kind,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Facts for the client beside the message (`{}` when there are none).
    pub fn details(&self) -> Map<String, Value> {
        let mut map = Map::new();
        match self {
            Self::Validation { field, rule, .. } => {
                map.insert("field".into(), Value::from(field.as_ref()));
                map.insert("rule".into(), Value::from(rule.as_ref()));
            }
            Self::NotFound { what } => {
                map.insert("resource".into(), Value::from(*what));
            }
            Self::Conflict { details, .. } | Self::Rule { details, .. } => map.clone_from(details),
            Self::RateLimited { retry_after_secs } => {
                map.insert("retry_after_secs".into(), Value::from(*retry_after_secs));
            }
            _ => {}
        }
        map
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database error"))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

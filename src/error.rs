//! The error every service in this crate returns.
//!
//! Each error carries a stable [`Code`] from the one table in the engine
//! crate (`blytz_actors::Code`): the code decides the HTTP status, so
//! nothing here or in the HTTP crate maps codes to statuses by hand.

use std::borrow::Cow;

pub use blytz_actors::Code;
use blytz_actors::rules::Rejection;
use serde_json::{Map, Value};

/// What went wrong, as a client should understand it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of the request breaks a rule (`validation_failed`).
    #[error("{field}: {message}")]
    Validation {
        /// The request field, e.g. `email`.
        field: Cow<'static, str>,
        /// The rule it breaks, e.g. `email` or `min_length`.
        rule: Cow<'static, str>,
        /// A sentence for people.
        message: Cow<'static, str>,
    },
    /// The thing asked for does not exist, or is not visible to the caller
    /// (`not_found`).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `user`.
        what: &'static str,
    },
    /// Too many requests; retry after the given number of seconds
    /// (`rate_limited`).
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until a retry may succeed (at least 1).
        retry_after_secs: u64,
    },
    /// Refused with a stable code (a rule, a conflict, a missing setting,
    /// an authentication failure, ...); the code gives the status.
    #[error("{message}")]
    Refused {
        /// The stable code, e.g. [`Code::BidTooLow`].
        code: Code,
        /// A sentence for people.
        message: Cow<'static, str>,
        /// Facts for the client, e.g. `{"min_bid":1600}`.
        details: Map<String, Value>,
    },
    /// The auction's rules refused a command: the rejection's own code,
    /// sentence and details, written out only when the answer is.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Anything unexpected (`internal`). Its cause is logged, never shown
    /// to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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

    /// Refused with `code` and a sentence, no details.
    pub fn refused(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Refused with `code` and its table message.
    pub fn code_only(code: Code) -> Self {
        Self::refused(code, code.message())
    }

    /// The same error with `key: value` added to its details (a no-op for
    /// errors whose details are fixed).
    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Self::Refused { details, .. } = &mut self {
            details.insert(key.to_owned(), value.into());
        }
        self
    }

    /// A 403 `forbidden`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::refused(Code::Forbidden, message)
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> Code {
        match self {
            Self::Validation { .. } => Code::ValidationFailed,
            Self::NotFound { .. } => Code::NotFound,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::Refused { code, .. } => *code,
            Self::Rejected(rejection) => rejection.code(),
            Self::Internal(_) => Code::Internal,
        }
    }

    /// The HTTP status, from the code.
    pub fn status(&self) -> u16 {
        self.code().status()
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
            Self::Refused { details, .. } => map.clone_from(details),
            Self::Rejected(rejection) => map = details_map(rejection.details()),
            Self::RateLimited { retry_after_secs } => {
                map.insert("retry_after_secs".into(), Value::from(*retry_after_secs));
            }
            Self::Internal(_) => {}
        }
        map
    }

    /// 403 `forbidden` unless `caller` may manage what `owner` owns: the
    /// one ownership check, with its one answer.
    pub fn unless_may_manage(
        caller: crate::accounts::Caller,
        owner: crate::ids::UserId,
    ) -> Result<()> {
        if caller.may_manage(owner) {
            Ok(())
        } else {
            Err(Self::code_only(Code::Forbidden))
        }
    }
}

/// Turns a rule's `details()` value into the map an error body carries.
pub fn details_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl From<sqlx::Error> for Error {
    /// A database that cannot be reached or written right now is a 503
    /// `unavailable` (see [`crate::db::is_unavailable`]). A constraint the
    /// request broke is the client's, never a 500: a broken reference is 409
    /// `invalid_reference`, a duplicate key 409 `already_exists` (services
    /// check what they foresee first and answer more precisely; this is the
    /// backstop). Anything else is `internal`.
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return Self::code_only(Code::Unavailable);
        }
        if let sqlx::Error::Database(db) = &e {
            if db.is_foreign_key_violation() {
                tracing::info!(error = %e, "a request broke a database reference");
                return Self::code_only(Code::InvalidReference);
            }
            if db.is_unique_violation() {
                tracing::info!(error = %e, "a request broke a unique key");
                return Self::code_only(Code::AlreadyExists);
            }
        }
        Self::Internal(anyhow::Error::new(e).context("database error"))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::{Code, Error};

    #[tokio::test]
    async fn a_broken_constraint_is_the_clients_error_not_a_500() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        for sql in [
            "PRAGMA foreign_keys = ON",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES parent (id))",
            "INSERT INTO parent (id) VALUES (1)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let orphan = sqlx::query("INSERT INTO child (id, parent) VALUES (1, 2)")
            .execute(&pool)
            .await
            .unwrap_err();
        assert_eq!(Error::from(orphan).code(), Code::InvalidReference);
        let twice = sqlx::query("INSERT INTO parent (id) VALUES (1)")
            .execute(&pool)
            .await
            .unwrap_err();
        assert_eq!(Error::from(twice).code(), Code::AlreadyExists);
    }
}

//! Account types as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::UserId;

pub use blytz_actors::domain::{Caller, Role};

/// A user account as the API returns it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// The account id.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// The login email, lower-cased.
    pub email: String,
    /// The name shown in rooms and chat.
    pub display_name: String,
    /// An optional picture.
    pub avatar_url: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// When the account was created.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
}

/// What register, login and refresh answer: the user and a fresh token pair.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthSession {
    /// The account.
    pub user: User,
    /// A short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// A long-lived, single-use token for `POST /auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

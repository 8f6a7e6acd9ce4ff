//! Account types as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// What a user may do. Sellers list and auction; buyers bid and buy; admins
/// moderate everything. Admins are created only from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Bids, buys, chats.
    Buyer,
    /// Also lists products and runs auctions and shows.
    Seller,
    /// May act on anything.
    Admin,
}

impl Role {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Admin => "admin",
        }
    }

    /// Parse the stored and wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "buyer" => Some(Self::Buyer),
            "seller" => Some(Self::Seller),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether this role may act as a seller (sellers and admins).
    pub fn can_sell(self) -> bool {
        matches!(self, Self::Seller | Self::Admin)
    }
}

/// Who is acting on a service: a user and their role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// Their role.
    pub role: Role,
}

impl Actor {
    /// Whether the actor is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the actor may change what `owner` owns (the owner or an admin).
    pub fn may_edit(&self, owner: UserId) -> bool {
        self.user == owner || self.is_admin()
    }
}

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

//! Follows and bookmarks as the API shows them.

use blytz_actors::domain::{ShowId, UserId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::shows::ShowStatus;

/// A seller a user follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FollowedSeller {
    /// The seller.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// The seller's name shown in rooms and chat.
    pub display_name: String,
    /// The seller's picture.
    pub avatar_url: Option<String>,
    /// How many users follow the seller.
    pub follower_count: u64,
    /// When the caller followed the seller.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub followed_at: DateTime<Utc>,
}

/// A show a user bookmarked: enough to list it (`GET /shows/{id}` has the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BookmarkedShow {
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub id: ShowId,
    /// Its seller.
    #[schema(value_type = String, format = Uuid)]
    pub seller_id: UserId,
    /// The seller's name shown in rooms and chat.
    pub seller_display_name: String,
    /// Title.
    pub title: String,
    /// Cover picture URL.
    pub cover_image_url: Option<String>,
    /// `scheduled`, `live` or `ended`.
    pub status: ShowStatus,
    /// When it is announced for.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: DateTime<Utc>,
    /// When it went live.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Utc>>,
    /// When the caller bookmarked it.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub bookmarked_at: DateTime<Utc>,
}

/// Whether a follow or a bookmark was made by this request or was there
/// already (the API answers 201 or 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Made now.
    New,
    /// It was there already; nothing changed.
    Already,
}

impl Added {
    /// Whether it was made now.
    pub fn is_new(self) -> bool {
        self == Self::New
    }
}

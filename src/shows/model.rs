//! Shows as the API shows them.

use blytz_actors::domain::{AuctionId, ShowId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a show is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShowStatus {
    /// Announced, not on air yet.
    Scheduled,
    /// On air: lots run one after another.
    Live,
    /// Over.
    Ended,
}

impl ShowStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Live => "live",
            Self::Ended => "ended",
        }
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "scheduled" => Some(Self::Scheduled),
            "live" => Some(Self::Live),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }
}

/// A show: a seller's live session with video, chat and a queue of lots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Show {
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub id: ShowId,
    /// Its seller.
    #[schema(value_type = String, format = Uuid)]
    pub seller_id: UserId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
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
    /// The video room's state as LiveKit last reported it.
    pub stream_status: String,
    /// Participants in the video room, as LiveKit last reported.
    pub stream_participants: u32,
    /// Seconds between one viewer's chat messages (0: off).
    pub slow_mode_secs: u32,
    /// Whether a bid in this show needs a card on file (null: the server's
    /// default, on when it charges cards).
    pub require_payment_method: Option<bool>,
    /// The auctions of the queue, in queue order.
    pub lots: Vec<AuctionId>,
    /// Every lot of the queue (auctions, giveaways, flash sales) with its
    /// kind and status, in queue order.
    pub queue: Vec<super::lots::QueueEntry>,
}

/// `POST /api/v1/shows` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewShow {
    /// 1 to 200 characters.
    pub title: String,
    /// Up to 5,000 characters.
    #[serde(default)]
    pub description: String,
    /// When it is announced for (RFC 3339).
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: DateTime<Utc>,
    /// An http(s) URL of the cover picture.
    pub cover_image_url: Option<String>,
    /// Whether a bid needs a card on file (default: on when the server
    /// charges cards, off otherwise).
    #[serde(default)]
    pub require_payment_method: Option<bool>,
}

/// A chat message in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChatEntry {
    /// The message.
    #[schema(format = Uuid)]
    pub id: uuid::Uuid,
    /// Its author.
    #[sqlx(try_from = "uuid::Uuid")]
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// The author's display name when they wrote it.
    pub display_name: String,
    /// The text.
    pub text: String,
    /// When it was accepted.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: DateTime<Utc>,
}

/// A moderation request as REST and WebSocket carry it:
/// `{"action":"mute"|"unmute"|"ban"|"unban"|"delete_message"|"slow_mode","user_id"?,"message_id"?,"seconds"?}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ModerationRequest {
    /// `mute`, `unmute`, `ban`, `unban`, `delete_message` or `slow_mode`.
    pub action: String,
    /// The user, for mute, unmute, ban and unban.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
    /// The message, for delete_message.
    #[schema(format = Uuid)]
    pub message_id: Option<uuid::Uuid>,
    /// Seconds between one user's messages, for slow_mode (0 turns it off; at most 3600).
    pub seconds: Option<u32>,
}

/// The longest slow mode.
pub const MAX_SLOW_MODE_SECS: u32 = 3_600;

impl ModerationRequest {
    /// The action, checked: each needs its own field.
    pub fn action(&self) -> crate::error::Result<blytz_actors::chat::messages::Moderation> {
        use crate::error::Error;
        use blytz_actors::chat::messages::Moderation;
        let user = || {
            self.user_id.ok_or_else(|| {
                Error::validation("user_id", "required", "this action needs a user_id")
            })
        };
        match self.action.as_str() {
            "mute" => Ok(Moderation::Mute(user()?)),
            "unmute" => Ok(Moderation::Unmute(user()?)),
            "ban" => Ok(Moderation::Ban(user()?)),
            "unban" => Ok(Moderation::Unban(user()?)),
            "delete_message" => self
                .message_id
                .map(Moderation::DeleteMessage)
                .ok_or_else(|| {
                    Error::validation(
                        "message_id",
                        "required",
                        "delete_message needs a message_id",
                    )
                }),
            "slow_mode" => match self.seconds {
                Some(secs) if secs <= MAX_SLOW_MODE_SECS => Ok(Moderation::SlowMode(secs)),
                Some(_) => Err(Error::validation(
                    "seconds",
                    "range",
                    format!("must be 0 to {MAX_SLOW_MODE_SECS}"),
                )),
                None => Err(Error::validation(
                    "seconds",
                    "required",
                    "slow_mode needs seconds",
                )),
            },
            _ => Err(Error::validation(
                "action",
                "one_of",
                "must be mute, unmute, ban, unban, delete_message or slow_mode",
            )),
        }
    }
}

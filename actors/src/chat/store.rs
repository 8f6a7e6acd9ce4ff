//! The chat storage port: history in batches, moderation state.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{UserId, wire_time};
use crate::rooms::RoomKey;

/// A storage failure (never carries SQL text or secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chat storage failed: {0}")]
pub struct ChatStoreError(pub String);

/// One chat message as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// UUID v7: time-ordered.
    pub id: Uuid,
    /// The author.
    pub user_id: UserId,
    /// The author's display name when they wrote it.
    pub display_name: String,
    /// The cleaned text.
    pub text: String,
    /// Server time it was accepted.
    #[serde(with = "wire_time")]
    pub sent_at: DateTime<Utc>,
}

/// A room's moderation state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restrictions {
    /// Muted users.
    pub muted: Vec<UserId>,
    /// Banned users.
    pub banned: Vec<UserId>,
    /// Seconds between one user's messages (0: off).
    pub slow_mode_secs: u32,
}

/// A restriction of one user in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestrictionKind {
    /// May not write until unmuted.
    Mute,
    /// May not write, for good.
    Ban,
}

impl RestrictionKind {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Mute => "mute",
            Self::Ban => "ban",
        }
    }
}

/// Where chat lives. Implementations: SQL (in the `blytz` crate) and
/// [`super::InMemoryChatStore`] for tests.
#[async_trait::async_trait]
pub trait ChatStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a batch of messages of `room` in one transaction.
    async fn save(&self, room: RoomKey, messages: &[ChatMessage]) -> Result<(), ChatStoreError>;
    /// Marks a stored message deleted; answers whether it existed in `room`.
    async fn delete(
        &self,
        room: RoomKey,
        message: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, ChatStoreError>;
    /// The room's mutes, bans and slow mode.
    async fn restrictions(&self, room: RoomKey) -> Result<Restrictions, ChatStoreError>;
    /// Adds (`on`) or lifts a restriction.
    async fn restrict(
        &self,
        room: RoomKey,
        user: UserId,
        kind: RestrictionKind,
        on: bool,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), ChatStoreError>;
    /// Keeps the room's slow mode.
    async fn set_slow_mode(&self, room: RoomKey, secs: u32) -> Result<(), ChatStoreError>;
}

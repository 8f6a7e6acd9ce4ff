//! Messages of a [`super::ChatRoom`].

use actix::Message;
use uuid::Uuid;

use super::rules::ChatRejection;
use super::store::ChatMessage;
use crate::domain::UserId;

/// Post a message; answers it as stored and broadcast, or why not.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ChatMessage, ChatRejection>")]
pub struct SendChat {
    /// The author.
    pub user_id: UserId,
    /// Their display name.
    pub display_name: String,
    /// The raw text.
    pub text: String,
    /// The room's seller, moderators and admins skip slow mode.
    pub exempt: bool,
}

/// A moderation action, already authorized by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    /// Silence a user until unmuted.
    Mute(UserId),
    /// Let a muted user write again.
    Unmute(UserId),
    /// Silence a user for good.
    Ban(UserId),
    /// Lift a ban.
    Unban(UserId),
    /// Remove a message for everyone.
    DeleteMessage(Uuid),
    /// Seconds between one user's messages (0: off).
    SlowMode(u32),
}

impl Moderation {
    /// The user the action restricts or frees, if it names one.
    #[must_use]
    pub const fn target(&self) -> Option<UserId> {
        match self {
            Self::Mute(user) | Self::Unmute(user) | Self::Ban(user) | Self::Unban(user) => {
                Some(*user)
            }
            Self::DeleteMessage(_) | Self::SlowMode(_) => None,
        }
    }
}

/// Apply a moderation action (persisted before it answers).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ChatRejection>")]
pub struct Moderate {
    /// Who acts.
    pub by: UserId,
    /// What they do.
    pub action: Moderation,
}

/// A connection entered the room (for presence).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The user, or `None` for an anonymous viewer.
    pub user_id: Option<UserId>,
}

/// A connection left the room (for presence).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The user, or `None` for an anonymous viewer.
    pub user_id: Option<UserId>,
}

/// The signed-in users with at least one connection in the room, in id
/// order (one entry per account, however many connections it has).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<crate::domain::UserId>")]
pub struct Present;

/// Write the pending messages now (tests, shutdown).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ChatRejection>")]
pub struct Flush;

/// Read the room's mutes, bans and slow mode again (another node of the
/// cluster changed them).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ReloadRestrictions;

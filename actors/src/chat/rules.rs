//! Chat rules: what a message may say, and why one is refused.

use crate::Code;
use serde_json::{Value, json};

/// The longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;

/// Why a chat message or moderation action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatRejection {
    /// Nothing left after trimming.
    #[error("the message is empty")]
    Empty,
    /// Over [`MAX_CHAT_CHARS`].
    #[error("the message is longer than {MAX_CHAT_CHARS} characters")]
    TooLong,
    /// The user is muted in this room.
    #[error("you are muted in this room")]
    Muted,
    /// The user is banned from this room's chat.
    #[error("you are banned from this room's chat")]
    Banned,
    /// Too soon: slow mode or the per-user rate.
    #[error("too many messages: wait {retry_after_ms} ms")]
    RateLimited {
        /// How long until the next message is accepted.
        retry_after_ms: u64,
        /// `slow_mode` or `rate`.
        reason: &'static str,
    },
    /// No such message to delete.
    #[error("no such message")]
    NotFound,
    /// Storage failed; nothing was changed.
    #[error("chat storage is unavailable")]
    Unavailable,
    /// The room's bans, mutes and slow mode could not be loaded: no chat
    /// is accepted until they are (the load is retried).
    #[error("this room's moderation could not be loaded; retry shortly")]
    ModerationUnavailable,
}

impl ChatRejection {
    /// The stable code.
    #[must_use]
    pub const fn code(&self) -> Code {
        match self {
            Self::Empty => Code::EmptyMessage,
            Self::TooLong => Code::MessageTooLong,
            Self::Muted => Code::Muted,
            Self::Banned => Code::Banned,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::NotFound => Code::NotFound,
            Self::Unavailable | Self::ModerationUnavailable => Code::Unavailable,
        }
    }

    /// Facts for the error body.
    #[must_use]
    pub fn details(&self) -> Value {
        match self {
            Self::TooLong => json!({ "max_chars": MAX_CHAT_CHARS }),
            Self::RateLimited {
                retry_after_ms,
                reason,
            } => json!({
                "retry_after_ms": retry_after_ms,
                "retry_after_secs": retry_after_ms.div_ceil(1000),
                "reason": reason,
            }),
            Self::ModerationUnavailable => json!({ "retry_after_secs": 1 }),
            _ => json!({}),
        }
    }
}

/// Whether `c` is an invisible formatting character that can disguise text:
/// bidirectional overrides, embeddings and isolates (which reverse what
/// follows them), zero-width spaces and joiners, and the byte-order mark.
#[must_use]
pub const fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The text as it will be shown: control and invisible formatting
/// characters ([`is_invisible_format`]) removed, trimmed, and between 1 and
/// [`MAX_CHAT_CHARS`] characters.
///
/// # Errors
/// [`ChatRejection::Empty`] or [`ChatRejection::TooLong`].
pub fn clean_text(text: &str) -> Result<String, ChatRejection> {
    let cleaned: String = text
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible_format(c))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(ChatRejection::Empty);
    }
    if cleaned.chars().count() > MAX_CHAT_CHARS {
        return Err(ChatRejection::TooLong);
    }
    Ok(cleaned.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cleaned_and_bounded() {
        assert_eq!(clean_text("  hi\u{7} there\n ").unwrap(), "hi there");
        assert_eq!(clean_text(" \t\n "), Err(ChatRejection::Empty));
        assert_eq!(clean_text(&"x".repeat(501)), Err(ChatRejection::TooLong));
        assert_eq!(clean_text(&"é".repeat(500)).unwrap().chars().count(), 500);
    }

    #[test]
    fn rejections_have_codes_and_details() {
        let slow = ChatRejection::RateLimited {
            retry_after_ms: 1500,
            reason: "slow_mode",
        };
        assert_eq!(slow.code().as_str(), "rate_limited");
        assert_eq!(slow.details()["retry_after_secs"], 2);
        assert_eq!(ChatRejection::Muted.code().as_str(), "muted");
    }
}

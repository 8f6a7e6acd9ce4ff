//! The error every engine call can return.

use crate::Code;
use crate::ports::JournalError;
use crate::rules::Rejection;

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuctionError {
    /// The rules refused the command (see [`Rejection::code`]).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The journal failed: nothing of the command was acknowledged and the
    /// auction is rebuilt from the journal. A store that cannot be reached
    /// is a 503 `unavailable` (retry); a conflict or corrupt journal a 500.
    #[error("the auction journal failed: {0}")]
    Journal(#[from] JournalError),
    /// The auction's actor stopped before answering (a 503; retry).
    #[error("the auction is restarting; try again")]
    Unavailable,
    /// Another node of the cluster serves the auction: the engine forwards
    /// the call there, so a client never sees this (a 503 if it cannot).
    #[error("the auction is served by another node")]
    Moved,
    /// The node that serves the auction refused the call, as it said on
    /// the wire.
    #[error("{message}")]
    Remote {
        /// The stable code.
        code: Code,
        /// The sentence for people.
        message: String,
        /// Facts for the client, e.g. `{"min_bid":1600}`.
        details: serde_json::Value,
    },
}

impl AuctionError {
    /// The stable code: the rejection's own, `internal` or `unavailable`.
    #[must_use]
    pub const fn code(&self) -> Code {
        match self {
            Self::Rejected(rejection) => rejection.code(),
            Self::Journal(JournalError::Unavailable(_) | JournalError::Fenced { .. })
            | Self::Unavailable
            | Self::Moved => Code::Unavailable,
            Self::Journal(_) => Code::Internal,
            Self::Remote { code, .. } => *code,
        }
    }

    /// The rejection inside, if the rules refused.
    #[must_use]
    pub const fn rejection(&self) -> Option<&Rejection> {
        match self {
            Self::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }
}

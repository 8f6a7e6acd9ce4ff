//! Why a command was refused. A rejection changes nothing.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::{AuctionStatus, MAX_REQUEST_ID_CHARS};
use crate::Code;

/// A refused command, with its stable [`Code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bid is below the minimum next bid.
    #[error("the bid is too low: the minimum bid is {min_bid}")]
    BidTooLow {
        /// The lowest acceptable bid now.
        min_bid: i64,
    },
    /// The auction is scheduled or paused.
    #[error("the auction is not live (it is {status})")]
    AuctionNotLive {
        /// Its status.
        status: AuctionStatus,
    },
    /// The auction has ended, was cancelled, or its deadline has passed.
    #[error("the auction is closed")]
    AuctionClosed,
    /// A seller tried to bid on or buy their own auction.
    #[error("sellers cannot bid on or buy their own auction")]
    OwnAuction,
    /// Only the seller or an admin may do this.
    #[error("only the seller or an admin may do this")]
    Forbidden,
    /// An amount is out of range or a maximum is below the amount.
    #[error("invalid amount: {reason}")]
    InvalidAmount {
        /// What is wrong.
        reason: &'static str,
    },
    /// No such auction.
    #[error("the auction does not exist")]
    NotFound,
    /// Buy-now is not offered, or no longer (a bid came first).
    #[error("buy-now is not available for this auction")]
    BuyNowUnavailable,
    /// The lifecycle does not allow this now.
    #[error("cannot {action} an auction that is {status}")]
    InvalidTransition {
        /// What was asked.
        action: &'static str,
        /// The status it is in.
        status: AuctionStatus,
    },
    /// The leader bid a maximum no higher than the one they hold.
    #[error("you already lead with a maximum of {max_amount}")]
    AlreadyLeading {
        /// The maximum they hold.
        max_amount: i64,
    },
    /// A bid's request id is empty, too long or not printable ASCII.
    #[error("a request_id is 1 to {MAX_REQUEST_ID_CHARS} printable ASCII characters")]
    InvalidRequestId,
    /// A pre-bid (or its withdrawal) on an auction that has started.
    #[error("pre-bids are taken only before the auction starts (it is {status})")]
    AuctionNotScheduled {
        /// Its status.
        status: AuctionStatus,
    },
    /// A pre-bid's new maximum is not above the one it holds.
    #[error(
        "a pre-bid can only be raised above its maximum of {max_amount}; withdraw it to lower it"
    )]
    PreBidNotRaised {
        /// The maximum the pre-bid holds.
        max_amount: i64,
    },
    /// The caller holds no pre-bid on this auction.
    #[error("you have no pre-bid on this auction")]
    NoPreBid,
    /// A new auction's settings are invalid.
    #[error("invalid auction: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}

impl Rejection {
    /// The stable code clients switch on, e.g. [`Code::BidTooLow`].
    #[must_use]
    pub const fn code(&self) -> Code {
        match self {
            Self::BidTooLow { .. } => Code::BidTooLow,
            Self::AuctionNotLive { .. } => Code::AuctionNotLive,
            Self::AuctionClosed => Code::AuctionClosed,
            Self::OwnAuction => Code::OwnAuction,
            Self::Forbidden => Code::Forbidden,
            Self::InvalidAmount { .. } => Code::InvalidAmount,
            Self::NotFound => Code::NotFound,
            Self::BuyNowUnavailable => Code::BuyNowUnavailable,
            Self::InvalidTransition { .. } => Code::InvalidTransition,
            Self::AlreadyLeading { .. } => Code::AlreadyLeading,
            Self::InvalidConfig { .. } => Code::InvalidConfig,
            Self::InvalidRequestId => Code::InvalidRequestId,
            Self::AuctionNotScheduled { .. } => Code::AuctionNotScheduled,
            Self::PreBidNotRaised { .. } => Code::PreBidNotRaised,
            Self::NoPreBid => Code::NoPreBid,
        }
    }

    /// Machine-readable details for the error body, e.g. `{"min_bid":1600}`.
    #[must_use]
    pub fn details(&self) -> Value {
        // A map of numbers and plain strings always converts.
        serde_json::to_value(self.details_fields()).unwrap_or_default()
    }

    /// The same details, written straight to a serializer: a refused bid's
    /// answer writes them without building a map first.
    #[must_use]
    pub const fn details_fields(&self) -> RejectionDetails<'_> {
        RejectionDetails(self)
    }
}

/// A rejection's details as JSON (see [`Rejection::details`]).
#[derive(Debug, Clone, Copy)]
pub struct RejectionDetails<'a>(&'a Rejection);

impl Serialize for RejectionDetails<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self.0 {
            Rejection::BidTooLow { min_bid } => map.serialize_entry("min_bid", min_bid)?,
            Rejection::AuctionNotLive { status } | Rejection::AuctionNotScheduled { status } => {
                map.serialize_entry("status", status.as_str())?;
            }
            Rejection::InvalidTransition { action, status } => {
                map.serialize_entry("action", action)?;
                map.serialize_entry("status", status.as_str())?;
            }
            Rejection::AlreadyLeading { max_amount }
            | Rejection::PreBidNotRaised { max_amount } => {
                map.serialize_entry("max_amount", max_amount)?;
            }
            Rejection::InvalidAmount { reason } => map.serialize_entry("reason", reason)?,
            Rejection::InvalidConfig { reason } => map.serialize_entry("reason", reason)?,
            Rejection::InvalidRequestId => {
                map.serialize_entry("max_chars", &MAX_REQUEST_ID_CHARS)?
            }
            Rejection::AuctionClosed
            | Rejection::OwnAuction
            | Rejection::Forbidden
            | Rejection::NotFound
            | Rejection::BuyNowUnavailable
            | Rejection::NoPreBid => {}
        }
        map.end()
    }
}

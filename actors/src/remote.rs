//! Calls to the node that serves an auction, in a cluster.
//!
//! An [`Engine`](crate::Engine) whose [`Placement`](crate::ports::Placement)
//! says another node owns an auction sends the call there as a [`Request`]
//! through its [`Remote`]; the owner runs it with
//! [`Engine::serve`](crate::Engine::serve) (never forwarding again) and
//! answers an [`Answer`]. A bid's `request_id` makes a retry after a lost
//! answer safe: the owner answers the first outcome again.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{AuctionId, Caller, UserId};
use crate::rooms::Frame;
use crate::rules::{Command, NewAuction};
use crate::view::{AuctionView, BidOutcome, Outcome, PreBidOutcome};
use crate::{AuctionError, Code};

/// A call for the node that serves the auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// [`Engine::execute`](crate::Engine::execute).
    Execute {
        /// Who asks (authenticated by the node that took the request).
        caller: Caller,
        /// What they ask.
        command: Command,
    },
    /// [`Engine::view`](crate::Engine::view).
    View,
    /// [`Engine::pre_bid`](crate::Engine::pre_bid).
    PreBid {
        /// The pre-bidder asking.
        bidder_id: UserId,
    },
    /// [`Engine::snapshot_frame`](crate::Engine::snapshot_frame).
    SnapshotFrame,
    /// [`Engine::create_auction`](crate::Engine::create_auction), with the
    /// id already chosen (its shard is the owner's).
    Create {
        /// The seller.
        seller_id: UserId,
        /// The settings.
        new: NewAuction,
    },
}

impl Request {
    /// A short name for metrics and logs.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Execute { .. } => "execute",
            Self::View => "view",
            Self::PreBid { .. } => "pre_bid",
            Self::SnapshotFrame => "snapshot_frame",
            Self::Create { .. } => "create",
        }
    }
}

/// What the serving node answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// A recorded bid.
    Bid {
        /// Its outcome.
        outcome: BidOutcome,
    },
    /// A pre-bid (placed, raised, or the one held; `None`: none held).
    PreBid {
        /// Its outcome.
        outcome: Option<PreBidOutcome>,
    },
    /// The auction.
    Auction {
        /// Its view.
        view: AuctionView,
    },
    /// An `auction.snapshot` frame.
    Frame {
        /// Its seq.
        seq: Option<u64>,
        /// The JSON text.
        text: String,
    },
    /// Refused, with the code a client would see.
    Refused {
        /// The stable code.
        code: Code,
        /// The sentence for people.
        message: String,
        /// Facts for the client.
        details: Value,
    },
    /// This node does not serve the auction (any more): ask its owner.
    Moved,
}

impl Answer {
    /// The answer to a call that returned `result`.
    #[must_use]
    pub fn of<T: Into<Self>>(result: Result<T, AuctionError>) -> Self {
        match result {
            Ok(value) => value.into(),
            Err(AuctionError::Moved) => Self::Moved,
            Err(AuctionError::Remote {
                code,
                message,
                details,
            }) => Self::Refused {
                code,
                message,
                details,
            },
            Err(error) => Self::Refused {
                code: error.code(),
                details: error
                    .rejection()
                    .map_or(Value::Null, crate::rules::Rejection::details),
                message: match &error {
                    AuctionError::Rejected(rejection) => rejection.to_string(),
                    _ => error.code().message().to_owned(),
                },
            },
        }
    }

    fn unexpected(self) -> AuctionError {
        match self {
            Self::Moved => AuctionError::Moved,
            Self::Refused {
                code,
                message,
                details,
            } => AuctionError::Remote {
                code,
                message,
                details,
            },
            other => {
                tracing::warn!(answer = ?other, "a node answered a call with the wrong kind");
                AuctionError::Unavailable
            }
        }
    }

    /// The answer to `execute`.
    ///
    /// # Errors
    /// The refusal, `Moved`, or `unavailable` for an answer of another kind.
    pub fn into_outcome(self) -> Result<Outcome, AuctionError> {
        match self {
            Self::Bid { outcome } => Ok(Outcome::Bid(Box::new(outcome))),
            Self::PreBid {
                outcome: Some(outcome),
            } => Ok(Outcome::PreBid(Box::new(outcome))),
            Self::Auction { view } => Ok(Outcome::Auction(Box::new(view))),
            other => Err(other.unexpected()),
        }
    }

    /// The answer to `view` or `create`.
    ///
    /// # Errors
    /// As [`Answer::into_outcome`].
    pub fn into_view(self) -> Result<AuctionView, AuctionError> {
        match self {
            Self::Auction { view } => Ok(view),
            other => Err(other.unexpected()),
        }
    }

    /// The answer to `pre_bid`.
    ///
    /// # Errors
    /// As [`Answer::into_outcome`].
    pub fn into_pre_bid(self) -> Result<Option<PreBidOutcome>, AuctionError> {
        match self {
            Self::PreBid { outcome } => Ok(outcome),
            other => Err(other.unexpected()),
        }
    }

    /// The answer to `snapshot_frame`.
    ///
    /// # Errors
    /// As [`Answer::into_outcome`].
    pub fn into_frame(self) -> Result<Frame, AuctionError> {
        match self {
            Self::Frame { seq, text } => Ok(Frame::new(seq, text.into())),
            other => Err(other.unexpected()),
        }
    }
}

impl From<Outcome> for Answer {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Bid(outcome) => Self::Bid { outcome: *outcome },
            Outcome::PreBid(outcome) => Self::PreBid {
                outcome: Some(*outcome),
            },
            Outcome::Auction(view) => Self::Auction { view: *view },
        }
    }
}

impl From<AuctionView> for Answer {
    fn from(view: AuctionView) -> Self {
        Self::Auction { view }
    }
}

impl From<Option<PreBidOutcome>> for Answer {
    fn from(outcome: Option<PreBidOutcome>) -> Self {
        Self::PreBid { outcome }
    }
}

impl From<Frame> for Answer {
    fn from(frame: Frame) -> Self {
        Self::Frame {
            seq: frame.seq,
            text: String::from_utf8_lossy(&frame.bytes).into_owned(),
        }
    }
}

/// The way to the node that serves an auction. Implemented by the cluster
/// (node to node over HTTP).
#[async_trait::async_trait]
pub trait Remote: Send + Sync + fmt::Debug + 'static {
    /// Runs `request` on the node that serves `auction_id` and answers what
    /// it said. Finds the owner again and retries while the answer is
    /// `Moved` (a takeover under way), within its own time limit.
    ///
    /// # Errors
    /// `unavailable` when no owner answered in time.
    async fn call(&self, auction_id: AuctionId, request: Request) -> Result<Answer, AuctionError>;
}

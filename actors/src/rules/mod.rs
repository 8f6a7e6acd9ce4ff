//! The bidding rules, as pure functions: [`decide`] turns a caller's command
//! into events (or a [`Rejection`]), [`close`] ends an auction whose deadline
//! passed, [`apply`] folds an event into the state.
//! No clock reads, no IO, no randomness: the caller passes `now` and ids in.
//! Pre-bids (hidden maxima on a scheduled auction, entered as bids when it
//! starts) follow the rules in `prebids`.

mod apply;
mod bidding;
mod command;
mod config;
mod decide;
mod emit;
mod event;
mod prebids;
mod rejection;
mod state;

#[cfg(test)]
mod tests;

pub use apply::{MAX_REQUEST_IDS_PER_BIDDER, REQUEST_ID_TTL, apply};
pub use bidding::{Floor, MAX_REQUEST_ID_CHARS, valid_request_id};
use command::BidRequest;
pub use command::{Bid, BidIds, Command, PreBid};
pub use config::{
    AuctionConfig, DEFAULT_SNIPE_EXTEND_TO_MS, DEFAULT_SNIPE_WINDOW_MS, MAX_DURATION_MS,
    MAX_SNIPE_MS, NewAuction, TimerMode,
};
pub use decide::{MAX_MANUAL_EXTENSION_MS, close, create, decide};
pub use event::{BidPlaced, EndReason, Event, EventKind, ExtendReason, MaxRaised, PreBidSet};
pub use rejection::{Rejection, RejectionDetails};
pub use state::{AuctionState, AuctionStatus, Ending, Leader, PreBidEntry, RecordedBid};

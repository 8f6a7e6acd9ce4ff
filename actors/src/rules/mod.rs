//! The bidding rules, as pure functions: [`decide`] turns a command into
//! events (or a [`Rejection`]), [`apply`] folds an event into the state.
//! No clock reads, no IO, no randomness: the caller passes `now` and ids in.

mod apply;
mod bidding;
mod command;
mod config;
mod decide;
mod emit;
mod event;
mod rejection;
mod state;

#[cfg(test)]
mod tests;

pub use apply::apply;
pub use command::{Actor, BidRequest, Command};
pub use config::{
    AuctionConfig, DEFAULT_SNIPE_EXTEND_TO_MS, DEFAULT_SNIPE_WINDOW_MS, MAX_DURATION_MS,
    MAX_SNIPE_MS, NewAuction, TimerMode,
};
pub use decide::{MAX_MANUAL_EXTENSION_MS, create, decide};
pub use event::{BidPlaced, EndReason, Event, EventKind, ExtendReason, MaxRaised};
pub use rejection::Rejection;
pub use state::{AuctionState, AuctionStatus, Leader, Outcome, RecordedBid};

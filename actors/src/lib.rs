//! The live-auction engine: pure bidding rules and the actors that run them.
//!
//! Knows no HTTP and no SQL; storage and time come in through [`ports`].
//!
//! # Entry points
//! - [`Engine::start`]`(store, clock, settings)` inside a running actix
//!   `System`, then on the [`Engine`]: `create_auction`, and
//!   `execute(auction_id, caller, command)` for every [`rules::Command`]
//!   (bid, buy-now, start, pause, resume, extend, end, cancel) answering a
//!   [`view::Outcome`]; `view`, `snapshot_frame`, `subscribe(RoomKey)`,
//!   `resume_open_auctions` (call once at boot so open auctions' timers run
//!   again). Every answer is sent only once it is durable; errors are
//!   [`AuctionError`] with a stable [`Code`] ([`AuctionError::code`]) and
//!   [`rules::Rejection::details`] for the error body.
//! - [`Code`]: every error code a client can see, with its HTTP status and
//!   message, in one table; [`domain::Caller`]: who is acting, everywhere.
//! - [`view`]: [`view::AuctionView`] (the REST/snapshot auction shape),
//!   [`view::BidOutcome`] (`{"bid","leading","auction"}`), room frames.
//! - [`rooms`]: [`rooms::Rooms`] and [`rooms::RoomKey`] (`auction:<uuid>`,
//!   `show:<uuid>`); frames arrive as JSON `Bytes` on a
//!   `tokio::sync::broadcast::Receiver`. On `Lagged`, resubscribe and fetch
//!   [`Engine::snapshot_frame`].
//! - [`ports`]: implement [`ports::JournalStore`] (append a batch in one
//!   transaction with its outbox rows, load snapshot + later events, save
//!   snapshots, list open auctions); [`ports::InMemoryJournal`] and
//!   [`ports::ManualClock`] serve tests.
//! - [`rules`]: `decide(&state, caller, command, ids, now)`, `close(&state,
//!   now)` and `apply(&mut state, &event)`, pure; [`rules::NewAuction`] is the create request.
//! - [`auction`] and [`registry`]: the actors behind the engine, for callers
//!   that want to hold an `Addr<AuctionActor>` themselves.
//!
//! The bidding rules are written out, with worked examples, in
//! `docs/bidding.md`.

pub mod auction;
pub mod chat;
mod code;
pub mod domain;
mod engine;
mod error;
mod index;
pub mod journal_writer;
pub mod json;
pub mod ports;
pub mod registry;
pub mod remote;
pub mod rooms;
pub mod rules;
pub mod runtime;
pub mod view;

pub use code::Code;
pub use engine::{Engine, EngineHooks, EngineSettings, default_arbiters};
pub use error::AuctionError;

/// What the exported macros reach for in the caller's crate.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "openapi")]
    pub use utoipa;
}

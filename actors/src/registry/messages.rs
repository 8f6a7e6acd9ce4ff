//! Messages the [`super::AuctionRegistry`] answers.

use actix::{Addr, Message};

use crate::AuctionError;
use crate::auction::AuctionActor;
use crate::domain::AuctionId;
use crate::rules::AuctionConfig;

/// The live actor of an auction, spawned from snapshot + journal if needed.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Addr<AuctionActor>, AuctionError>")]
pub struct Resolve {
    /// The auction.
    pub auction_id: AuctionId,
}

/// Create a new auction: journal its `Created` event, then spawn its actor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Addr<AuctionActor>, AuctionError>")]
pub struct CreateAuction {
    /// Its validated configuration (id and seller included).
    pub config: AuctionConfig,
}

/// Spawn every auction the journal says is open, so their timers run again
/// after a restart. Answers how many were spawned.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<usize, AuctionError>")]
pub struct ResumeOpenAuctions;

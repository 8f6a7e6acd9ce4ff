//! The lock-free index from auction id to the address of its live actor.
//! Generic over the actor type so it needs nothing of the actor it indexes;
//! [`crate::auction::AuctionIndex`] is the engine's.

use std::fmt;
use std::sync::Arc;

use actix::{Actor, Addr};
use dashmap::DashMap;

use crate::domain::AuctionId;

/// Auction id -> address of its live actor. Shared by the registry (which
/// inserts), the actors (which remove themselves when they stop) and
/// callers, who reach a live auction without a hop through the registry.
pub struct Index<A: Actor> {
    /// Sharded map: lookups of different auctions never contend.
    actors: Arc<DashMap<AuctionId, Addr<A>>>,
}

impl<A: Actor> Clone for Index<A> {
    fn clone(&self) -> Self {
        Self {
            actors: self.actors.clone(),
        }
    }
}

impl<A: Actor> Default for Index<A> {
    fn default() -> Self {
        Self {
            actors: Arc::default(),
        }
    }
}

impl<A: Actor> fmt::Debug for Index<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuctionIndex")
            .field("live", &self.actors.len())
            .finish()
    }
}

impl<A: Actor> Index<A> {
    /// The live actor of `auction_id`, if one is running.
    #[must_use]
    pub fn get(&self, auction_id: AuctionId) -> Option<Addr<A>> {
        self.actors
            .get(&auction_id)
            .map(|entry| entry.value().clone())
            .filter(Addr::connected)
    }

    /// Records the actor of `auction_id`.
    pub fn insert(&self, auction_id: AuctionId, addr: Addr<A>) {
        self.actors.insert(auction_id, addr);
    }

    /// Forgets `auction_id` if it still points at `addr` (a newer actor stays).
    pub fn remove_if_is(&self, auction_id: AuctionId, addr: &Addr<A>) {
        self.actors
            .remove_if(&auction_id, |_, current| current == addr);
    }

    /// How many auctions are live in memory.
    #[must_use]
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether no auction is live in memory.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}

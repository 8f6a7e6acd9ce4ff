//! The lock-free index from auction id to the address of its live actor,
//! and what that actor shows callers without a message. Generic over both
//! so it needs nothing of the actor it indexes;
//! [`crate::auction::AuctionIndex`] is the engine's.

use std::fmt;
use std::sync::Arc;

use actix::{Actor, Addr};
use dashmap::DashMap;

use crate::domain::AuctionId;

/// Auction id -> address of its live actor and what it shows (`S`). Shared
/// by the registry (which inserts), the actors (which remove themselves
/// when they stop) and callers, who reach a live auction without a hop
/// through the registry.
pub struct Index<A: Actor, S> {
    /// Sharded map: lookups of different auctions never contend.
    actors: Arc<DashMap<AuctionId, (Addr<A>, S)>>,
}

impl<A: Actor, S> Clone for Index<A, S> {
    fn clone(&self) -> Self {
        Self {
            actors: self.actors.clone(),
        }
    }
}

impl<A: Actor, S> Default for Index<A, S> {
    fn default() -> Self {
        Self {
            actors: Arc::default(),
        }
    }
}

impl<A: Actor, S> fmt::Debug for Index<A, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuctionIndex")
            .field("live", &self.actors.len())
            .finish()
    }
}

impl<A: Actor, S: Clone> Index<A, S> {
    /// The live actor of `auction_id`, if one is running.
    #[must_use]
    pub fn get(&self, auction_id: AuctionId) -> Option<Addr<A>> {
        self.actors
            .get(&auction_id)
            .map(|entry| entry.value().0.clone())
            .filter(Addr::connected)
    }

    /// What the live actor of `auction_id` shows, if one is running.
    #[must_use]
    pub fn shown(&self, auction_id: AuctionId) -> Option<S> {
        self.actors
            .get(&auction_id)
            .filter(|entry| entry.value().0.connected())
            .map(|entry| entry.value().1.clone())
    }

    /// Records the actor of `auction_id` and what it shows.
    pub fn insert(&self, auction_id: AuctionId, addr: Addr<A>, shown: S) {
        self.actors.insert(auction_id, (addr, shown));
    }

    /// Forgets `auction_id` if it still points at `addr` (a newer actor stays).
    pub fn remove_if_is(&self, auction_id: AuctionId, addr: &Addr<A>) {
        self.actors
            .remove_if(&auction_id, |_, (current, _)| current == addr);
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

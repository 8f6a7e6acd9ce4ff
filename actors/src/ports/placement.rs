//! The placement port: which auctions this node may serve, and under which
//! fence. Without one (a single node) every auction is served here.
//!
//! In a cluster, auctions hash into shards and each shard is leased to one
//! node at a time under an epoch that only grows. An actor is spawned only
//! for an auction whose shard this node holds, remembers the [`Fence`] it
//! was spawned under, and stamps it on every journal entry: the store
//! commits the batch only while that fence is still the shard's lease, so
//! a node that lost a shard can never acknowledge anything for it.

use std::fmt;

use crate::domain::AuctionId;

/// A shard lease as one node holds it: the shard and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The shard the auction hashes into.
    pub shard: u32,
    /// The lease's epoch when the actor was spawned.
    pub epoch: u64,
}

/// Where auctions are served. Implemented by the cluster's lease table.
pub trait Placement: Send + Sync + fmt::Debug + 'static {
    /// The fence this node serves `auction_id` under now, or `None` when
    /// another node owns it (or nobody does yet).
    fn fence(&self, auction_id: AuctionId) -> Option<Fence>;

    /// Whether `fence` is still held and may be served from memory.
    fn holds(&self, fence: Fence) -> bool;

    /// The journal refused a batch under `fence`: another node has the
    /// shard now. Stop serving it at once.
    fn fenced(&self, fence: Fence);
}

//! `AuctionRegistry`: spawns and supervises auction actors.
//!
//! Sent [`messages`] by the engine when an auction is not in the
//! [`AuctionIndex`] (the fast path needs no registry hop). It owns the
//! arbiters ([`crate::default_arbiters`]) that auction actors are spread
//! over, and the list of auctions being loaded, so two concurrent
//! requests for the same auction never spawn two actors. An actor that
//! stops (journal failure, eviction after its grace period) removes itself
//! from the index; the next request respawns it from snapshot + journal,
//! and a periodic sweep brings back every open auction without an actor
//! (so a deadline still ends an auction nobody bids on after the store
//! came back). Actors never share state, so one auction's failure never
//! disturbs another.

mod handlers;
pub mod messages;

use std::collections::HashMap;

use actix::prelude::*;
use tokio::sync::oneshot;

pub use crate::auction::AuctionIndex;

use crate::AuctionError;
use crate::auction::{AuctionActor, AuctionDeps, floor_of};
use crate::domain::AuctionId;
use crate::ports::Fence;
use crate::rules::AuctionState;

type Waiter = oneshot::Sender<Result<Addr<AuctionActor>, AuctionError>>;

/// The supervisor of auction actors. See the module documentation.
#[derive(Debug)]
pub struct AuctionRegistry {
    deps: AuctionDeps,
    /// Worker arbiters (threads) auctions are spread over; empty: the
    /// registry's own arbiter.
    arbiters: Vec<Arbiter>,
    next_arbiter: usize,
    /// Auctions being loaded, with everyone waiting for them.
    loading: HashMap<AuctionId, Vec<Waiter>>,
    /// A recovery sweep is running.
    sweeping: bool,
}

impl AuctionRegistry {
    /// A registry spreading auctions over `arbiters` (none: its own arbiter).
    #[must_use]
    pub fn new(deps: AuctionDeps, arbiters: Vec<Arbiter>) -> Self {
        Self {
            deps,
            arbiters,
            next_arbiter: 0,
            loading: HashMap::new(),
            sweeping: false,
        }
    }

    /// The fence this node serves `auction_id` under: `Ok(None)` on a
    /// single node, `Moved` when another node owns the auction.
    fn fence(&self, auction_id: AuctionId) -> Result<Option<Fence>, AuctionError> {
        match &self.deps.placement {
            None => Ok(None),
            Some(placement) => placement
                .fence(auction_id)
                .map(Some)
                .ok_or(AuctionError::Moved),
        }
    }

    /// Starts an actor for durable `state`, served under `fence`, on the
    /// next arbiter and indexes it.
    fn spawn_actor(&mut self, state: AuctionState, fence: Option<Fence>) -> Addr<AuctionActor> {
        let auction_id = state.config.id;
        let deps = self.deps.clone();
        let (show, view) = floor_of(&state, fence);
        let addr = if self.arbiters.is_empty() {
            AuctionActor::new(state, deps, fence, show).start()
        } else {
            let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len()];
            self.next_arbiter = self.next_arbiter.wrapping_add(1);
            AuctionActor::start_in_arbiter(&arbiter.handle(), move |_| {
                AuctionActor::new(state, deps, fence, show)
            })
        };
        self.deps.index.insert(auction_id, addr.clone(), view);
        addr
    }
}

impl Actor for AuctionRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = self.deps.settings.recovery_interval;
        if !every.is_zero() {
            ctx.run_interval(every, |act, ctx| act.sweep(ctx));
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

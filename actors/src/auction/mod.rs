//! `AuctionActor`: one live auction.
//!
//! Sent [`messages`] by the engine (HTTP and WebSocket sessions) and by its
//! own timer. It owns the auction's state, its deadline timer and the
//! replies waiting for the journal. It judges each command with the pure
//! rules and applies the events in memory at once, so the next bid is
//! judged against them, but it answers and publishes room frames only once
//! the journal writer reports the batch durable: commit, then acknowledge,
//! then publish. If an append fails it fails every waiting reply and stops;
//! the registry rebuilds it from the journal on the next request, so memory
//! is never ahead of the journal in anything a user saw.

mod answer;
mod durability;
mod floor;
mod handlers;
pub mod messages;
mod observer;

pub use floor::{FloorShow, FloorView, floor_of};
pub use observer::{AuctionFact, AuctionObserver};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::index::Index;
use crate::journal_writer::JournalWriter;
use crate::ports::{Clock, Fence, JournalStore, Placement};
use crate::rooms::Rooms;
use crate::rules::{AuctionState, BidIds};

use durability::{InFlight, Pending};

/// Auction id -> address of its live actor (see [`Index`]).
pub type AuctionIndex = Index<AuctionActor, FloorView>;

/// How many times [`AuctionSettings::snapshot_every`] events apart an
/// auction's snapshots may be, for the bid `request_id`s its state
/// remembers.
pub const MAX_SNAPSHOT_STRETCH: u64 = 10;

/// Tuning of auction actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuctionSettings {
    /// Save a snapshot every this many events (and on pause and end);
    /// further apart, up to [`MAX_SNAPSHOT_STRETCH`] times, while the state
    /// remembers more bid `request_id`s than this.
    pub snapshot_every: u64,
    /// How long an ended or cancelled auction stays in memory.
    pub eviction_grace: Duration,
    /// Messages that may queue in one auction's mailbox.
    pub mailbox_capacity: usize,
    /// How often the registry brings back open auctions whose actors
    /// stopped (a journal that failed, a rebuild that could not read the
    /// store), so their deadlines still end them. Zero: never.
    pub recovery_interval: Duration,
}

impl Default for AuctionSettings {
    fn default() -> Self {
        Self {
            snapshot_every: 100,
            eviction_grace: Duration::from_secs(60),
            mailbox_capacity: 4096,
            recovery_interval: Duration::from_secs(2),
        }
    }
}

/// What an auction actor shares with the rest of the engine.
#[derive(Debug, Clone)]
pub struct AuctionDeps {
    /// The group-commit writer shared by all auctions.
    pub journal: JournalWriter,
    /// The store, to load auctions from.
    pub store: Arc<dyn JournalStore>,
    /// The rooms hub frames are published to.
    pub rooms: Rooms,
    /// Server time.
    pub clock: Arc<dyn Clock>,
    /// The index this actor removes itself from when it stops.
    pub index: AuctionIndex,
    /// Tuning.
    pub settings: AuctionSettings,
    /// Told who was outbid and whose pre-bids entered, once durable.
    pub observer: Option<Arc<dyn AuctionObserver>>,
    /// Which auctions this node serves, in a cluster (none: all of them).
    pub placement: Option<Arc<dyn Placement>>,
}

/// One auction, live in memory. See the module documentation.
#[derive(Debug)]
pub struct AuctionActor {
    /// Applied state: may be ahead of the journal by the in-flight batches.
    state: AuctionState,
    /// The seq up to which the journal has confirmed every event.
    durable_seq: u64,
    deps: AuctionDeps,
    /// Batches submitted to the writer, oldest first; a batch counts as
    /// durable only once every earlier one is too.
    inflight: VecDeque<InFlight>,
    /// Replies, frames and snapshots waiting for their seq to be durable,
    /// in seq order.
    pending: VecDeque<Pending>,
    /// The deadline timer, re-armed on every change of the deadline.
    timer: Option<SpawnHandle>,
    events_since_snapshot: u64,
    eviction_scheduled: bool,
    /// Set once an append failed: the actor answers nothing more.
    failed: bool,
    /// The shard lease it was spawned under, in a cluster.
    fence: Option<Fence>,
    /// The ids the next command's bid gets if recorded. A refused command
    /// leaves them unused for the next one: on a contested auction most
    /// bids are refused, and each fresh pair costs a clock read and random
    /// bits. Nothing reads the time inside a bid's id.
    next_ids: BidIds,
    /// What callers on other threads judge plain bids against.
    floor: FloorShow,
}

impl AuctionActor {
    /// An actor for `state`, which must be durable (loaded from the journal),
    /// served under `fence` in a cluster, showing its floor on `floor`
    /// (made by [`floor_of`] from the same state).
    #[must_use]
    pub fn new(
        state: AuctionState,
        deps: AuctionDeps,
        fence: Option<Fence>,
        floor: FloorShow,
    ) -> Self {
        Self {
            floor,
            fence,
            durable_seq: state.seq,
            state,
            deps,
            inflight: VecDeque::new(),
            pending: VecDeque::new(),
            timer: None,
            events_since_snapshot: 0,
            eviction_scheduled: false,
            failed: false,
            next_ids: BidIds::fresh(),
        }
    }
}

impl Actor for AuctionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.deps.settings.mailbox_capacity);
        self.arm_timer(ctx);
        if self.deps.placement.is_some() {
            // In a cluster this node may have just taken the auction over:
            // frames its former owner committed but never relayed would
            // leave a gap at the watchers, so the room starts again from
            // the journal's state.
            let frame = crate::view::snapshot_frame(&self.state, self.deps.clock.now());
            self.deps.rooms.publish(
                crate::rooms::RoomKey::Auction(self.state.config.id),
                crate::rooms::Frame::new(Some(self.state.seq), frame),
            );
        }
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.floor.close();
        let me = ctx.address();
        self.deps.index.remove_if_is(self.state.config.id, &me);
        tracing::debug!(auction_id = %self.state.config.id, "auction actor stopped");
    }
}

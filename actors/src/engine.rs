//! `Engine`: the one handle the HTTP and WebSocket layers hold.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::broadcast;

use crate::AuctionError;
use crate::auction::messages::{Execute, GetPreBid, GetSnapshotFrame, GetView, Tick};
use crate::auction::{AuctionActor, AuctionDeps, AuctionSettings};
use crate::domain::{AuctionId, Caller, UserId};
use crate::journal_writer::{JournalWriter, WriterSettings};
use crate::ports::{Clock, JournalStore};
use crate::registry::messages::{CreateAuction, Resolve, ResumeOpenAuctions};
use crate::registry::{AuctionIndex, AuctionRegistry};
use crate::rooms::{Frame, RoomKey, Rooms};
use crate::rules::{Command, NewAuction};
use crate::view::{AuctionView, Outcome, PreBidOutcome};

/// Tuning of the whole engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Worker arbiters (threads) for auction actors; 0 runs them on the
    /// caller's arbiter (handy in tests). Default: one per core.
    pub arbiters: usize,
    /// Run the journal writer on a thread of its own (default true).
    pub writer_thread: bool,
    /// Auction actor tuning.
    pub auction: AuctionSettings,
    /// Group-commit tuning.
    pub writer: WriterSettings,
    /// Frames a room buffers per subscriber before it lags.
    pub room_capacity: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            arbiters: std::thread::available_parallelism().map_or(1, usize::from),
            writer_thread: true,
            auction: AuctionSettings::default(),
            writer: WriterSettings::default(),
            room_capacity: 256,
        }
    }
}

/// The engine: create auctions, send them commands, subscribe to rooms.
/// Cheap to clone; every method is safe to call from any arbiter.
#[derive(Debug, Clone)]
pub struct Engine {
    registry: Addr<AuctionRegistry>,
    index: AuctionIndex,
    rooms: Rooms,
    clock: Arc<dyn Clock>,
    /// The writer's and the auctions' arbiters.
    threads: Arc<Vec<ArbiterHandle>>,
}

impl Engine {
    /// Starts the journal writer and the registry. Call inside a running
    /// actix `System` (e.g. in `actix_web::main` or `actix_rt::test`).
    #[must_use]
    pub fn start(
        store: Arc<dyn JournalStore>,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
    ) -> Self {
        Self::start_observed(store, clock, settings, None)
    }

    /// [`Engine::start`], with `observer` told each auction's durable facts
    /// (who was outbid, whose pre-bids entered at the start).
    #[must_use]
    pub fn start_observed(
        store: Arc<dyn JournalStore>,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
        observer: Option<Arc<dyn crate::auction::AuctionObserver>>,
    ) -> Self {
        let mut threads = Vec::new();
        let journal = if settings.writer_thread {
            let arbiter = Arbiter::new();
            let writer = JournalWriter::spawn_on(&arbiter.handle(), store.clone(), settings.writer);
            // The arbiter's thread lives on until the System or
            // [`Engine::stop`] stops it.
            threads.push(arbiter.handle());
            writer
        } else {
            JournalWriter::spawn(store.clone(), settings.writer)
        };
        let index = AuctionIndex::default();
        let rooms = Rooms::new(settings.room_capacity);
        let deps = AuctionDeps {
            journal,
            store,
            rooms: rooms.clone(),
            clock: clock.clone(),
            index: index.clone(),
            settings: settings.auction,
            observer,
        };
        let arbiters: Vec<Arbiter> = (0..settings.arbiters).map(|_| Arbiter::new()).collect();
        threads.extend(arbiters.iter().map(Arbiter::handle));
        let registry = AuctionRegistry::new(deps, arbiters).start();
        Self {
            registry,
            index,
            rooms,
            clock,
            threads: Arc::new(threads),
        }
    }

    /// Stops the engine's threads (the journal writer's and the auctions'):
    /// what they hold, a database pool among it, is let go. Submissions not
    /// yet written are lost, so call it only once nothing is bidding (at
    /// shutdown, after the server stopped). A System that stops stops them
    /// too; this is for an engine that ends before its System does.
    pub fn stop(&self) {
        for thread in self.threads.iter() {
            thread.stop();
        }
    }

    /// The rooms hub (also usable for chat and presence frames).
    #[must_use]
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// Joins a room: `auction:<id>` or `show:<id>`.
    #[must_use]
    pub fn subscribe(&self, room: RoomKey) -> broadcast::Receiver<Frame> {
        self.rooms.subscribe(room)
    }

    /// The index of live auction actors.
    #[must_use]
    pub fn index(&self) -> &AuctionIndex {
        &self.index
    }

    /// Server time, as the engine sees it.
    #[must_use]
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Creates an auction owned by `seller_id`; answers once `Created` is durable.
    ///
    /// # Errors
    /// `invalid_config` for bad settings; a journal error.
    pub async fn create_auction(
        &self,
        seller_id: UserId,
        new: NewAuction,
    ) -> Result<AuctionView, AuctionError> {
        let config = new.into_config(AuctionId::new(), seller_id)?;
        let addr = self
            .registry
            .send(CreateAuction { config })
            .await
            .map_err(|_| AuctionError::Unavailable)??;
        addr.send(GetView)
            .await
            .map_err(|_| AuctionError::Unavailable)?
    }

    /// The live actor of `auction_id`: from the index, else spawned by the
    /// registry from snapshot + journal.
    ///
    /// # Errors
    /// `not_found`; a journal error while loading.
    pub async fn auction(&self, auction_id: AuctionId) -> Result<Addr<AuctionActor>, AuctionError> {
        if let Some(addr) = self.index.get(auction_id) {
            return Ok(addr);
        }
        self.registry
            .send(Resolve { auction_id })
            .await
            .map_err(|_| AuctionError::Unavailable)?
    }

    /// Runs `caller`'s `command` on the auction: the one way in for bids,
    /// buy-now and lifecycle changes, from every transport. Answers once the
    /// command's events are durable.
    ///
    /// # Errors
    /// A rejection such as `bid_too_low` (with `min_bid`) or `forbidden`;
    /// `not_found`; `unavailable`; a journal error.
    pub async fn execute(
        &self,
        auction_id: AuctionId,
        caller: Caller,
        command: Command,
    ) -> Result<Outcome, AuctionError> {
        self.send(auction_id, Execute { caller, command }).await
    }

    /// The durable public view.
    ///
    /// # Errors
    /// `not_found`; a journal error while loading.
    pub async fn view(&self, auction_id: AuctionId) -> Result<AuctionView, AuctionError> {
        self.send(auction_id, GetView).await
    }

    /// The pre-bid `bidder_id` holds on the auction (for that bidder alone:
    /// it shows their maximum), if any.
    ///
    /// # Errors
    /// `not_found`; a journal error while loading.
    pub async fn pre_bid(
        &self,
        auction_id: AuctionId,
        bidder_id: UserId,
    ) -> Result<Option<PreBidOutcome>, AuctionError> {
        self.send(auction_id, GetPreBid { bidder_id }).await
    }

    /// The current `auction.snapshot` frame (for a joining or lagging session).
    ///
    /// # Errors
    /// `not_found`; a journal error while loading.
    pub async fn snapshot_frame(&self, auction_id: AuctionId) -> Result<Frame, AuctionError> {
        self.send(auction_id, GetSnapshotFrame).await
    }

    /// Checks the deadline now (the timer does this by itself).
    ///
    /// # Errors
    /// `not_found`; a journal error.
    pub async fn tick(&self, auction_id: AuctionId) -> Result<AuctionView, AuctionError> {
        self.send(auction_id, Tick).await
    }

    /// Sends any auction message; if the actor stopped meanwhile (it is
    /// being rebuilt), retries once on a fresh one.
    ///
    /// # Errors
    /// The message's own error, or `unavailable`.
    async fn send<M, R>(&self, auction_id: AuctionId, msg: M) -> Result<R, AuctionError>
    where
        M: Message<Result = Result<R, AuctionError>> + Clone + Send + 'static,
        R: Send + 'static,
        AuctionActor: Handler<M>,
    {
        for _ in 0..2 {
            let addr = self.auction(auction_id).await?;
            match addr.send(msg.clone()).await {
                // A stopped or stopping actor: forget it; the retry respawns
                // it from the journal.
                Ok(Err(AuctionError::Unavailable)) | Err(_) => {
                    self.index.remove_if_is(auction_id, &addr);
                }
                Ok(answer) => return answer,
            }
        }
        Err(AuctionError::Unavailable)
    }

    /// Spawns every open auction after a restart so their timers run.
    ///
    /// # Errors
    /// A journal error listing open auctions.
    pub async fn resume_open_auctions(&self) -> Result<usize, AuctionError> {
        self.registry
            .send(ResumeOpenAuctions)
            .await
            .map_err(|_| AuctionError::Unavailable)?
    }
}

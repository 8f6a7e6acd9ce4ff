//! `Engine`: the one handle the HTTP and WebSocket layers hold.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::broadcast;

use crate::AuctionError;
use crate::auction::messages::{Execute, GetPreBid, GetSnapshotFrame, GetView, Tick};
use crate::auction::{AuctionActor, AuctionDeps, AuctionSettings};
use crate::domain::{AuctionId, Caller, UserId};
use crate::journal_writer::{JournalWriter, WriterSettings};
use crate::ports::{Clock, JournalStore, Placement};
use crate::registry::messages::{CreateAuction, Resolve, ResumeOpenAuctions};
use crate::registry::{AuctionIndex, AuctionRegistry};
use crate::remote::{Answer, Remote, Request};
use crate::rooms::{Frame, RoomKey, Rooms};
use crate::rules::{Command, NewAuction};
use crate::view::{AuctionView, Outcome, PreBidOutcome};

/// Tuning of the whole engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Worker arbiters (threads) for auction actors; 0 runs them on the
    /// caller's arbiter (handy in tests). Default: [`default_arbiters`].
    pub arbiters: usize,
    /// Run the journal writer on the engine's own threads (default true):
    /// on the first auctions' arbiter, so that the auctions there hand it
    /// their commands and take its acknowledgements without waking another
    /// thread, or on a thread of its own when `arbiters` is 0. Else on the
    /// caller's arbiter.
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
            arbiters: default_arbiters(),
            writer_thread: true,
            auction: AuctionSettings::default(),
            writer: WriterSettings::default(),
            room_capacity: 256,
        }
    }
}

/// Auction arbiters by default: one per two cores, at least one. An
/// auction's own work per bid (its rules, a frame, a hand-off to the
/// journal) is a small part of the bid's; reading, answering and fanning
/// out, on the HTTP workers (one per core), is most of it.
/// Fewer engine threads wake less often and leave the cores to the workers
/// (`docs/performance.md`, "The journal writer on the auctions' thread").
#[must_use]
pub fn default_arbiters() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
}

/// What an engine is told besides its store and clock: who observes the
/// auctions' durable facts and, in a cluster, which auctions this node
/// serves and the way to the nodes that serve the others.
#[derive(Debug, Clone, Default)]
pub struct EngineHooks {
    /// Told who was outbid and whose pre-bids entered, once durable.
    pub observer: Option<Arc<dyn crate::auction::AuctionObserver>>,
    /// Which auctions this node serves (none: every auction).
    pub placement: Option<Arc<dyn Placement>>,
    /// The way to the node serving an auction this node does not.
    pub remote: Option<Arc<dyn Remote>>,
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
    placement: Option<Arc<dyn Placement>>,
    remote: Option<Arc<dyn Remote>>,
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
        Self::start_with(
            store,
            clock,
            settings,
            EngineHooks {
                observer,
                ..EngineHooks::default()
            },
        )
    }

    /// [`Engine::start`], with `hooks`: an observer, and in a cluster the
    /// placement of auctions and the way to the other nodes.
    #[must_use]
    pub fn start_with(
        store: Arc<dyn JournalStore>,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
        hooks: EngineHooks,
    ) -> Self {
        let EngineHooks {
            observer,
            placement,
            remote,
        } = hooks;
        let arbiters: Vec<Arbiter> = (0..settings.arbiters).map(|_| Arbiter::new()).collect();
        // The arbiters' threads live on until the System or
        // [`Engine::stop`] stops them.
        let mut threads: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
        let journal = match (settings.writer_thread, threads.first()) {
            (true, Some(first)) => JournalWriter::spawn_on(first, store.clone(), settings.writer),
            (true, None) => {
                let arbiter = Arbiter::new();
                let writer =
                    JournalWriter::spawn_on(&arbiter.handle(), store.clone(), settings.writer);
                threads.push(arbiter.handle());
                writer
            }
            (false, _) => JournalWriter::spawn(store.clone(), settings.writer),
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
            placement: placement.clone(),
        };
        let registry = AuctionRegistry::new(deps, arbiters).start();
        Self {
            registry,
            index,
            rooms,
            clock,
            threads: Arc::new(threads),
            placement,
            remote,
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

    /// Creates an auction owned by `seller_id`; answers once `Created` is
    /// durable. In a cluster the auction gets an id of a shard this node
    /// serves when it serves any; else its owner creates it.
    ///
    /// # Errors
    /// `invalid_config` for bad settings; a journal error.
    pub async fn create_auction(
        &self,
        seller_id: UserId,
        new: NewAuction,
    ) -> Result<AuctionView, AuctionError> {
        let auction_id = self.new_auction_id();
        let request = self.remote.as_ref().map(|_| Request::Create {
            seller_id,
            new: new.clone(),
        });
        match (self.create_here(auction_id, seller_id, new).await, request) {
            (Err(AuctionError::Moved), Some(request)) => {
                self.forward(auction_id, request).await?.into_view()
            }
            (created, _) => created,
        }
    }

    /// Creates auction `auction_id` on this node: `Moved` when another node
    /// serves its shard, and nothing was created.
    async fn create_here(
        &self,
        auction_id: AuctionId,
        seller_id: UserId,
        new: NewAuction,
    ) -> Result<AuctionView, AuctionError> {
        let config = new.into_config(auction_id, seller_id)?;
        let addr = self
            .registry
            .send(CreateAuction { config })
            .await
            .map_err(|_| AuctionError::Unavailable)??;
        match addr.send(GetView).await {
            // Created and durable, and its shard moved on before the view
            // was read: the new owner serves it. A `Moved` here would have
            // the caller create it again there, which the journal refuses.
            Ok(Err(AuctionError::Moved)) => Box::pin(self.view(auction_id)).await,
            answer => answer.map_err(|_| AuctionError::Unavailable)?,
        }
    }

    /// A fresh auction id; in a cluster, one this node serves if any of a
    /// few tries lands in a shard it holds.
    fn new_auction_id(&self) -> AuctionId {
        let mut id = AuctionId::new();
        if let Some(placement) = &self.placement {
            for _ in 0..32 {
                if placement.fence(id).is_some() {
                    break;
                }
                id = AuctionId::new();
            }
        }
        id
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
        if let Some(refusal) = self.below_the_floor(auction_id, caller, &command).await {
            return Err(refusal);
        }
        // The copy for the owner is made only where there may be one.
        let request = self.remote.as_ref().map(|_| Request::Execute {
            caller,
            command: command.clone(),
        });
        let execute = Execute { caller, command };
        self.routed(auction_id, execute, request, Answer::into_outcome)
            .await
    }

    /// `bid_too_low` for a plain bid below the floor the auction's live
    /// actor shows, once that floor is durable, without a turn of the
    /// auction's thread (see [`crate::auction::FloorView`]); `None` when the
    /// actor judges the command. In a cluster, only while this node holds
    /// the lease the actor serves under, as the actor checks on every
    /// command: no other node appends to the auction then. The one check
    /// of both ways in: a caller's own ([`Engine::execute`]) and another
    /// node's ([`Engine::serve`]).
    async fn below_the_floor(
        &self,
        auction_id: AuctionId,
        caller: Caller,
        command: &Command,
    ) -> Option<AuctionError> {
        let Command::Bid(bid) = command else {
            return None;
        };
        let floor = self.index.shown(auction_id)?;
        if let Some(placement) = &self.placement
            && !floor.fence().is_some_and(|fence| placement.holds(fence))
        {
            return None;
        }
        let refusal = floor.refusal(caller.id, bid, self.clock.now()).await?;
        Some(AuctionError::Rejected(refusal))
    }

    /// The durable public view.
    ///
    /// # Errors
    /// `not_found`; a journal error while loading.
    pub async fn view(&self, auction_id: AuctionId) -> Result<AuctionView, AuctionError> {
        let request = Some(Request::View);
        self.routed(auction_id, GetView, request, Answer::into_view)
            .await
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
        let request = Some(Request::PreBid { bidder_id });
        let get = GetPreBid { bidder_id };
        self.routed(auction_id, get, request, Answer::into_pre_bid)
            .await
    }

    /// The current `auction.snapshot` frame (for a joining or lagging session).
    ///
    /// # Errors
    /// `not_found`; a journal error while loading.
    pub async fn snapshot_frame(&self, auction_id: AuctionId) -> Result<Frame, AuctionError> {
        let request = Some(Request::SnapshotFrame);
        self.routed(auction_id, GetSnapshotFrame, request, Answer::into_frame)
            .await
    }

    /// Whether this node serves `auction_id` now (always, on a single node).
    #[must_use]
    pub fn serves(&self, auction_id: AuctionId) -> bool {
        self.placement
            .as_ref()
            .is_none_or(|placement| placement.fence(auction_id).is_some())
    }

    /// Runs a call another node forwarded, here only: an auction this node
    /// does not serve answers [`Answer::Moved`], never a second hop.
    pub async fn serve(&self, auction_id: AuctionId, request: Request) -> Answer {
        match request {
            Request::Execute { caller, command } => {
                if let Some(refusal) = self.below_the_floor(auction_id, caller, &command).await {
                    return Answer::of::<Outcome>(Err(refusal));
                }
                Answer::of(self.send(auction_id, Execute { caller, command }).await)
            }
            Request::View => Answer::of(self.send(auction_id, GetView).await),
            Request::PreBid { bidder_id } => {
                Answer::of(self.send(auction_id, GetPreBid { bidder_id }).await)
            }
            Request::SnapshotFrame => Answer::of(self.send(auction_id, GetSnapshotFrame).await),
            Request::Create { seller_id, new } => {
                Answer::of(self.create_here(auction_id, seller_id, new).await)
            }
        }
    }

    /// Sends `msg` to the auction here; when another node serves it, sends
    /// `request` (the same call on the wire) there and reads its answer
    /// with `read`. Without a `request` a `Moved` is the answer.
    async fn routed<M, R>(
        &self,
        auction_id: AuctionId,
        msg: M,
        request: Option<Request>,
        read: fn(Answer) -> Result<R, AuctionError>,
    ) -> Result<R, AuctionError>
    where
        M: Message<Result = Result<R, AuctionError>> + Clone + Send + 'static,
        R: Send + 'static,
        AuctionActor: Handler<M>,
    {
        match (self.send(auction_id, msg).await, request) {
            // Boxed: the forwarding future is large and rare, and would
            // otherwise be carried by every call's future.
            (Err(AuctionError::Moved), Some(request)) => {
                read(Box::pin(self.forward(auction_id, request)).await?)
            }
            (answer, _) => answer,
        }
    }

    /// Sends `request` to the node serving `auction_id`; when the answer
    /// is that this node serves it now (it took the shard over meanwhile),
    /// runs it here.
    async fn forward(
        &self,
        auction_id: AuctionId,
        request: Request,
    ) -> Result<Answer, AuctionError> {
        let Some(remote) = &self.remote else {
            return Err(AuctionError::Moved);
        };
        for _ in 0..3 {
            match remote.call(auction_id, request.clone()).await? {
                Answer::Moved => {
                    if self.serves(auction_id) {
                        match self.serve(auction_id, request.clone()).await {
                            Answer::Moved => {}
                            answer => return Ok(answer),
                        }
                    }
                }
                answer => return Ok(answer),
            }
        }
        Err(AuctionError::Unavailable)
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
        if !self.serves(auction_id) {
            return Err(AuctionError::Moved);
        }
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

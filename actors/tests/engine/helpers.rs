//! A test engine over the in-memory journal.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use blytz_actors::auction::AuctionSettings;
use blytz_actors::domain::{AuctionId, Currency, ProductId, UserId};
use blytz_actors::domain::{Caller, Role};
use blytz_actors::ports::{Clock, InMemoryJournal, ManualClock, Placement, SystemClock};
use blytz_actors::remote::Remote;
use blytz_actors::rooms::{Frame, RoomKey, Rooms};
use blytz_actors::rules::{Bid, Command, NewAuction};
use blytz_actors::view::{AuctionView, BidOutcome, Outcome};
use blytz_actors::{AuctionError, Engine, EngineHooks, EngineSettings};
use bytes::Bytes;
use chrono::DateTime;
use serde_json::Value;
use tokio::sync::broadcast;

pub struct TestEngine {
    pub engine: Engine,
    pub store: Arc<InMemoryJournal>,
    pub clock: Option<Arc<ManualClock>>,
    pub seller: UserId,
}

pub fn settings() -> EngineSettings {
    EngineSettings {
        arbiters: 0,
        writer_thread: false,
        auction: AuctionSettings {
            snapshot_every: 4,
            eviction_grace: Duration::from_secs(600),
            mailbox_capacity: 1024,
            recovery_interval: Duration::ZERO,
        },
        ..EngineSettings::default()
    }
}

/// An engine on a manual clock (timers never fire by themselves in time).
pub fn manual_engine() -> TestEngine {
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
    ));
    let store = Arc::new(InMemoryJournal::new());
    let engine = Engine::start(store.clone(), clock.clone(), settings());
    TestEngine {
        engine,
        store,
        clock: Some(clock),
        seller: UserId::new(),
    }
}

/// An engine on a manual clock whose auctions are served under
/// `placement`'s leases, as a cluster node's are, with `remote` the way to
/// the other nodes.
pub fn leased_engine(placement: Arc<dyn Placement>, remote: Option<Arc<dyn Remote>>) -> TestEngine {
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
    ));
    let store = Arc::new(InMemoryJournal::new());
    let hooks = EngineHooks {
        placement: Some(placement),
        remote,
        ..EngineHooks::default()
    };
    let engine = Engine::start_with(store.clone(), clock.clone(), settings(), hooks);
    TestEngine {
        engine,
        store,
        clock: Some(clock),
        seller: UserId::new(),
    }
}

/// An engine on the system clock.
pub fn system_engine(settings: EngineSettings) -> TestEngine {
    let store = Arc::new(InMemoryJournal::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    TestEngine {
        engine: Engine::start(store.clone(), clock, settings),
        store,
        clock: None,
        seller: UserId::new(),
    }
}

impl TestEngine {
    /// A second engine over the same journal, as after a process restart.
    pub fn restarted(&self) -> Engine {
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        Engine::start(self.store.clone(), clock, settings())
    }

    pub fn seller(&self) -> Caller {
        Caller::new(self.seller, Role::Seller)
    }

    pub fn new_auction(&self, start_price: i64, duration_ms: i64) -> NewAuction {
        NewAuction::new(ProductId::new(), Currency::USD, start_price, duration_ms)
    }

    /// Creates and starts an auction.
    pub async fn live(&self, new: NewAuction) -> AuctionView {
        let created = self.engine.create_auction(self.seller, new).await.unwrap();
        command(&self.engine, created.id, self.seller(), Command::Start)
            .await
            .unwrap()
    }

    pub async fn bid(
        &self,
        auction_id: AuctionId,
        bidder_id: UserId,
        amount: i64,
        max_amount: Option<i64>,
    ) -> Result<BidOutcome, AuctionError> {
        place_bid(
            &self.engine,
            auction_id,
            bidder_id,
            bid(amount, max_amount, None),
        )
        .await
    }
}

/// A bid.
pub fn bid(amount: i64, max_amount: Option<i64>, request_id: Option<String>) -> Bid {
    Bid {
        amount,
        max_amount,
        request_id,
    }
}

/// `bidder` places `bid` through [`Engine::execute`].
pub async fn place_bid(
    engine: &Engine,
    auction_id: AuctionId,
    bidder: UserId,
    bid: Bid,
) -> Result<BidOutcome, AuctionError> {
    let caller = Caller::new(bidder, Role::Buyer);
    match engine
        .execute(auction_id, caller, Command::Bid(bid))
        .await?
    {
        Outcome::Bid(outcome) => Ok(*outcome),
        Outcome::Auction(view) => panic!("a bid answered without a bid: {view:?}"),
        Outcome::PreBid(outcome) => panic!("a bid answered a pre-bid: {outcome:?}"),
    }
}

/// `caller` runs a lifecycle `command` through [`Engine::execute`]; the auction after it.
pub async fn command(
    engine: &Engine,
    auction_id: AuctionId,
    caller: Caller,
    command: Command,
) -> Result<AuctionView, AuctionError> {
    engine
        .execute(auction_id, caller, command)
        .await
        .map(Outcome::into_auction)
}

/// The next frame of a room, parsed; fails the test after 5 s.
pub async fn next_frame(rx: &mut broadcast::Receiver<Frame>) -> Value {
    let frame = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a frame within 5 s")
        .expect("the room is open");
    let value: Value = serde_json::from_slice(&frame.bytes).unwrap();
    assert_eq!(
        frame.seq,
        value["seq"].as_u64(),
        "a frame carries its own seq"
    );
    value
}

/// A room's chat lane, read frame by frame: `chat.batch` frames are unpacked.
pub struct ChatWatcher {
    rx: broadcast::Receiver<Bytes>,
    pending: VecDeque<Value>,
    /// `chat.batch` frames received so far.
    pub batches: usize,
}

impl ChatWatcher {
    /// Watch `room`'s chat lane from now on.
    pub fn new(rooms: &Rooms, room: RoomKey) -> Self {
        Self {
            rx: rooms.subscribe_chat(room),
            pending: VecDeque::new(),
            batches: 0,
        }
    }

    /// The next chat-lane frame.
    pub async fn next(&mut self) -> Value {
        while self.pending.is_empty() {
            let bytes = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
                .await
                .expect("a chat frame within 5 s")
                .expect("the room is open");
            let mut frame: Value = serde_json::from_slice(&bytes).unwrap();
            if frame["type"] == "chat.batch" {
                self.batches += 1;
                let frames = frame["frames"].take();
                self.pending.extend(
                    frames
                        .as_array()
                        .expect("frames of a batch")
                        .iter()
                        .cloned(),
                );
            } else {
                self.pending.push_back(frame);
            }
        }
        self.pending.pop_front().unwrap()
    }
}

/// Frames until one of type `kind` (inclusive).
pub async fn frames_until(rx: &mut broadcast::Receiver<Frame>, kind: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(rx).await;
        let done = frame["type"] == kind;
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

//! Room frames between the nodes of a cluster, through Redis pub/sub.
//!
//! Each node publishes what its rooms publish (auction events, chat,
//! presence, lot and user frames) on one channel, through one connection
//! and in order, so the frames of an auction reach every other node in
//! seq order. Each node delivers what the others published to its own
//! subscribers, checking every auction's `seq`: a frame at or below the
//! last one delivered (a duplicate, or a late frame from an owner that has
//! since lost the auction) is dropped; a gap (frames lost while Redis was
//! unreachable, or a full queue) is healed with a fresh snapshot from the
//! auction's owner before the frame that showed it.
//!
//! Publishing never waits: a frame goes into a bounded queue, and a full
//! queue drops it (the receivers heal the gap).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blytz_actors::Engine;
use blytz_actors::domain::{AuctionId, ShowId, UserId};
use blytz_actors::rooms::{Frame, Presence, RoomKey, RoomNotice, RoomRelay, Rooms};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Frames that may wait for Redis before new ones are dropped.
const QUEUE: usize = 65_536;
/// Frames sent to Redis in one pipeline.
const PIPELINE: usize = 512;
/// Auctions whose last seq a node remembers before it starts over (each
/// auction's next frame then counts as its first).
const REMEMBERED: usize = 200_000;
/// The longest a gap waits for its snapshot.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// A room, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "room", content = "id", rename_all = "snake_case")]
enum WireRoom {
    Auction(AuctionId),
    Show(ShowId),
    User(UserId),
}

impl From<RoomKey> for WireRoom {
    fn from(room: RoomKey) -> Self {
        match room {
            RoomKey::Auction(id) => Self::Auction(id),
            RoomKey::Show(id) => Self::Show(id),
            RoomKey::User(id) => Self::User(id),
        }
    }
}

impl From<WireRoom> for RoomKey {
    fn from(room: WireRoom) -> Self {
        match room {
            WireRoom::Auction(id) => Self::Auction(id),
            WireRoom::Show(id) => Self::Show(id),
            WireRoom::User(id) => Self::User(id),
        }
    }
}

/// What a frame is, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Lane {
    /// An auction event, for its room and its show's.
    Auction {
        auction: AuctionId,
        show: Option<ShowId>,
        seq: Option<u64>,
    },
    /// Another events-lane frame.
    Events {
        #[serde(flatten)]
        room: WireRoom,
        seq: Option<u64>,
    },
    /// A chat-lane frame.
    Chat {
        #[serde(flatten)]
        room: WireRoom,
    },
    /// A notice for the other nodes (no frame follows).
    Notice {
        #[serde(flatten)]
        room: WireRoom,
        notice: WireNotice,
    },
    /// The sender's presence in a room (no frame follows).
    Presence {
        #[serde(flatten)]
        room: WireRoom,
        connections: u32,
        viewers: u32,
    },
}

/// A [`RoomNotice`], as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireNotice {
    ChatRestrictionsChanged,
    PaymentMethodsChanged,
}

impl From<RoomNotice> for WireNotice {
    fn from(notice: RoomNotice) -> Self {
        match notice {
            RoomNotice::ChatRestrictionsChanged => Self::ChatRestrictionsChanged,
            RoomNotice::PaymentMethodsChanged => Self::PaymentMethodsChanged,
        }
    }
}

impl From<WireNotice> for RoomNotice {
    fn from(notice: WireNotice) -> Self {
        match notice {
            WireNotice::ChatRestrictionsChanged => Self::ChatRestrictionsChanged,
            WireNotice::PaymentMethodsChanged => Self::PaymentMethodsChanged,
        }
    }
}

/// How often a node repeats an unchanged, non-zero presence.
const PRESENCE_REPEAT: Duration = Duration::from_secs(1);
/// How long another node's presence counts without being repeated.
const PRESENCE_FRESH: Duration = Duration::from_secs(3);

/// Presence in every room: what this node last told the others, and what
/// each other node last said.
#[derive(Debug, Default)]
struct Board {
    told: HashMap<RoomKey, (Presence, Instant)>,
    heard: HashMap<RoomKey, HashMap<String, (Presence, Instant)>>,
}

impl Board {
    /// Whether `here` should be told now: it changed, or it is not zero
    /// and was told a while ago.
    fn tell(&mut self, room: RoomKey, here: Presence, now: Instant) -> bool {
        let due = match self.told.get(&room) {
            Some((told, at)) => {
                *told != here || (here != Presence::default() && now - *at >= PRESENCE_REPEAT)
            }
            None => true,
        };
        if due {
            self.told.insert(room, (here, now));
        }
        due
    }

    fn heard(&mut self, room: RoomKey, node: String, presence: Presence, now: Instant) {
        self.heard
            .entry(room)
            .or_default()
            .insert(node, (presence, now));
    }

    /// The other nodes' sums in `room`, forgetting the stale.
    fn elsewhere(&mut self, room: RoomKey, now: Instant) -> Presence {
        let Some(nodes) = self.heard.get_mut(&room) else {
            return Presence::default();
        };
        nodes.retain(|_, (_, at)| now - *at < PRESENCE_FRESH);
        let sum = nodes
            .values()
            .fold(Presence::default(), |sum, (p, _)| Presence {
                connections: sum.connections.saturating_add(p.connections),
                viewers: sum.viewers.saturating_add(p.viewers),
            });
        if nodes.is_empty() {
            self.heard.remove(&room);
        }
        sum
    }
}

/// The first line of a message: who sent it and where it goes. The frame's
/// bytes follow the newline as they are.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    from: String,
    #[serde(flatten)]
    lane: Lane,
}

/// Every auction's last seq this node delivered to its own watchers, its
/// own frames and relayed ones alike: a relayed frame at or below it is
/// stale (a former owner's, late).
#[derive(Debug, Default)]
struct Delivered(std::sync::Mutex<HashMap<AuctionId, u64>>);

impl Delivered {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<AuctionId, u64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, auction: AuctionId) -> Option<u64> {
        self.map().get(&auction).copied()
    }

    /// Raises the auction's last seq to `seq`.
    fn saw(&self, auction: AuctionId, seq: u64) {
        let mut map = self.map();
        if map.len() >= REMEMBERED && !map.contains_key(&auction) {
            map.clear();
        }
        let last = map.entry(auction).or_insert(seq);
        *last = (*last).max(seq);
    }
}

/// This node's side of the relay: what its rooms publish goes to Redis.
#[derive(Debug)]
pub struct Relay {
    node_id: String,
    queue: mpsc::Sender<Bytes>,
    delivered: Arc<Delivered>,
    board: Arc<std::sync::Mutex<Board>>,
}

impl Relay {
    /// Connects to Redis at `redis_url`, starts the publisher and the
    /// listener (which delivers to `engine`'s rooms and asks `engine` for
    /// snapshots), and answers the relay to give the rooms.
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn start(
        redis_url: &str,
        channel: &str,
        node_id: &str,
        engine: Engine,
    ) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(redis_url)?;
        let publisher = redis::aio::ConnectionManager::new(client.clone()).await?;
        // Subscribe before serving, so nothing published after start is missed.
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        let (queue, pending) = mpsc::channel(QUEUE);
        let delivered = Arc::new(Delivered::default());
        let board = Arc::new(std::sync::Mutex::new(Board::default()));
        tokio::spawn(publish(publisher, channel.to_owned(), pending));
        tokio::spawn(listen(
            client,
            pubsub,
            channel.to_owned(),
            Delivery {
                node_id: node_id.to_owned(),
                rooms: engine.rooms().clone(),
                engine,
                delivered: Arc::clone(&delivered),
                board: Arc::clone(&board),
            },
        ));
        Ok(Arc::new(Self {
            node_id: node_id.to_owned(),
            queue,
            delivered,
            board,
        }))
    }

    fn send(&self, lane: Lane, bytes: &[u8]) {
        let header = Header {
            from: self.node_id.clone(),
            lane,
        };
        let Ok(mut message) = serde_json::to_vec(&header) else {
            return;
        };
        message.push(b'\n');
        message.extend_from_slice(bytes);
        if self.queue.try_send(Bytes::from(message)).is_err() {
            metrics::counter!("cluster_relay_dropped_total").increment(1);
        }
    }
}

impl RoomRelay for Relay {
    fn auction_frame(&self, auction_id: AuctionId, show_id: Option<ShowId>, frame: &Frame) {
        if let Some(seq) = frame.seq {
            self.delivered.saw(auction_id, seq);
        }
        self.send(
            Lane::Auction {
                auction: auction_id,
                show: show_id,
                seq: frame.seq,
            },
            &frame.bytes,
        );
    }

    fn room_frame(&self, room: RoomKey, frame: &Frame) {
        if let (RoomKey::Auction(auction_id), Some(seq)) = (room, frame.seq) {
            self.delivered.saw(auction_id, seq);
        }
        self.send(
            Lane::Events {
                room: room.into(),
                seq: frame.seq,
            },
            &frame.bytes,
        );
    }

    fn chat_frame(&self, room: RoomKey, frame: &Bytes) {
        self.send(Lane::Chat { room: room.into() }, frame);
    }

    fn notice(&self, room: RoomKey, notice: RoomNotice) {
        self.send(
            Lane::Notice {
                room: room.into(),
                notice: notice.into(),
            },
            &[],
        );
    }

    fn presence(&self, room: RoomKey, here: Presence) -> Presence {
        let now = Instant::now();
        let (tell, elsewhere) = {
            let mut board = self
                .board
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (board.tell(room, here, now), board.elsewhere(room, now))
        };
        if tell {
            self.send(
                Lane::Presence {
                    room: room.into(),
                    connections: here.connections,
                    viewers: here.viewers,
                },
                &[],
            );
        }
        elsewhere
    }
}

/// Sends queued frames to Redis, as many as wait in one pipeline, in order.
async fn publish(
    mut conn: redis::aio::ConnectionManager,
    channel: String,
    mut pending: mpsc::Receiver<Bytes>,
) {
    let mut batch = Vec::with_capacity(PIPELINE);
    while pending.recv_many(&mut batch, PIPELINE).await > 0 {
        let mut pipe = redis::pipe();
        for message in batch.drain(..) {
            pipe.cmd("PUBLISH")
                .arg(&channel)
                .arg(message.as_ref())
                .ignore();
        }
        if let Err(error) = pipe.query_async::<()>(&mut conn).await {
            metrics::counter!("cluster_relay_dropped_total").increment(1);
            tracing::warn!(%error, "relaying frames to the other nodes failed");
        }
    }
}

/// Delivers what the other nodes publish, for as long as the process
/// runs; subscribes again after Redis comes back.
async fn listen(
    client: redis::Client,
    first: redis::aio::PubSub,
    channel: String,
    mut delivery: Delivery,
) {
    let mut pubsub = Some(first);
    loop {
        if let Some(subscribed) = pubsub.take() {
            let mut messages = subscribed.into_on_message();
            while let Some(message) = messages.next().await {
                delivery.deliver(message.get_payload_bytes()).await;
            }
            tracing::warn!("the relay's Redis subscription ended; subscribing again");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        match client.get_async_pubsub().await {
            Ok(mut fresh) => match fresh.subscribe(&channel).await {
                Ok(()) => pubsub = Some(fresh),
                Err(error) => tracing::warn!(%error, "subscribing to the relay failed"),
            },
            Err(error) => tracing::warn!(%error, "connecting the relay to Redis failed"),
        }
    }
}

/// The listener's state.
struct Delivery {
    node_id: String,
    engine: Engine,
    rooms: Rooms,
    delivered: Arc<Delivered>,
    board: Arc<std::sync::Mutex<Board>>,
}

impl Delivery {
    async fn deliver(&mut self, message: &[u8]) {
        let Some(split) = message.iter().position(|b| *b == b'\n') else {
            return;
        };
        let Ok(header) = serde_json::from_slice::<Header>(&message[..split]) else {
            tracing::warn!("an unreadable relay message was dropped");
            return;
        };
        if header.from == self.node_id {
            return;
        }
        metrics::counter!("cluster_relay_frames_total").increment(1);
        let bytes = Bytes::copy_from_slice(&message[split + 1..]);
        match header.lane {
            Lane::Notice { room, notice } => {
                self.rooms.hear(room.into(), notice.into());
            }
            Lane::Presence {
                room,
                connections,
                viewers,
            } => {
                let presence = Presence {
                    connections,
                    viewers,
                };
                self.board
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .heard(room.into(), header.from, presence, Instant::now());
            }
            Lane::Chat { room } => {
                self.rooms.deliver_chat(room.into(), bytes);
            }
            Lane::Events { room, seq } => {
                let room = RoomKey::from(room);
                if let (RoomKey::Auction(auction), Some(seq)) = (room, seq) {
                    // A snapshot an owner sent its watchers (on taking the
                    // auction over): the frames before it are in it.
                    self.delivered.saw(auction, seq);
                }
                self.rooms.deliver(room, Frame::new(seq, bytes));
            }
            Lane::Auction { auction, show, seq } => {
                self.auction_frame(auction, show, Frame::new(seq, bytes))
                    .await;
            }
        }
    }

    async fn auction_frame(&mut self, auction: AuctionId, show: Option<ShowId>, frame: Frame) {
        let Some(seq) = frame.seq else {
            self.rooms.deliver_auction(auction, show, frame);
            return;
        };
        let last = self.delivered.get(auction);
        if last.is_some_and(|last| seq <= last) {
            metrics::counter!("cluster_relay_stale_total").increment(1);
            return;
        }
        let mut delivered = seq;
        if last.is_some_and(|last| seq > last + 1) {
            metrics::counter!("cluster_relay_gaps_total").increment(1);
            tracing::info!(%auction, after = ?last, seq, "a gap in relayed frames: healing it with a snapshot");
            let snapshot =
                tokio::time::timeout(SNAPSHOT_TIMEOUT, self.engine.snapshot_frame(auction)).await;
            if let Ok(Ok(snapshot)) = snapshot
                && let Some(at) = snapshot.seq
            {
                self.rooms.deliver(RoomKey::Auction(auction), snapshot);
                delivered = delivered.max(at);
                if at >= seq {
                    self.delivered.saw(auction, delivered);
                    return;
                }
            }
        }
        self.rooms.deliver_auction(auction, show, frame);
        self.delivered.saw(auction, delivered);
    }
}

//! The rooms hub: fan-out without loops over subscribers.
//!
//! A room has two lanes, each a `tokio::sync::broadcast` channel: the
//! publisher serializes a frame once and sends the same `Bytes` to every
//! receiver; each session reads at its own pace.
//!
//! - **events**: the auction events, one frame per item. A receiver that
//!   falls behind gets `RecvError::Lagged` and should resync from a fresh
//!   `auction.snapshot` (see `Engine::snapshot_frame`) rather than grow a
//!   buffer.
//! - **chat**: chat and presence frames (a busy room's chat comes as one
//!   `chat.batch` frame per batch). However heavy the chat, it never fills
//!   the events lane, so it can neither push a bidder into a resync nor
//!   delay an auction frame behind it; a receiver that falls behind on chat
//!   skips the chat it missed.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::{Semaphore, broadcast};

use crate::domain::{AuctionId, ShowId, UserId};

/// A room: `auction:<uuid>` or `show:<uuid>`, or one person's own frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKey {
    /// Every event of one auction.
    Auction(AuctionId),
    /// Every event of every auction in one show.
    Show(ShowId),
    /// What is said to one user alone (a failed payment, an offer): every
    /// signed-in connection of theirs is in it. Never parsed from a client's
    /// room name, so nobody subscribes to another's.
    User(UserId),
}

/// A room name that is neither `auction:<uuid>` nor `show:<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a room is `auction:<uuid>` or `show:<uuid>`, got {0:?}")]
pub struct InvalidRoomKey(pub String);

impl fmt::Display for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auction(id) => write!(f, "auction:{id}"),
            Self::Show(id) => write!(f, "show:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
        }
    }
}

impl FromStr for RoomKey {
    type Err = InvalidRoomKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidRoomKey(s.to_owned());
        match s.split_once(':') {
            Some(("auction", id)) => id.parse().map(Self::Auction).map_err(|_| invalid()),
            Some(("show", id)) => id.parse().map(Self::Show).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

/// A frame on a room's events lane: the serialized JSON, shared by every
/// receiver, and the auction `seq` it carries (none for frames without one),
/// so a reader never parses a frame to learn where it stands.
///
/// The frame is also encoded once as a WebSocket text frame (`wire`): every
/// socket is written the same bytes, with no per-watcher encoding or copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The auction event's gapless seq, if the frame has one.
    pub seq: Option<u64>,
    /// The JSON text, serialized once (a view into `wire`).
    pub bytes: Bytes,
    /// The JSON text as one unmasked WebSocket text frame, as a server sends
    /// it (RFC 6455, section 5.2).
    pub wire: Bytes,
}

impl Frame {
    /// A frame with its seq.
    #[must_use]
    pub fn new(seq: Option<u64>, json: Bytes) -> Self {
        let wire = websocket_text(&json);
        let bytes = wire.slice(wire.len() - json.len()..);
        Self { seq, bytes, wire }
    }
}

/// `payload` as one final, unmasked WebSocket text frame: the opcode byte,
/// the length (7 bits, or 126 and 16 bits, or 127 and 64 bits), the payload.
#[must_use]
pub fn websocket_text(payload: &[u8]) -> Bytes {
    const FIN_TEXT: u8 = 0x81;
    let len = payload.len();
    let mut wire = Vec::with_capacity(len + 10);
    wire.push(FIN_TEXT);
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short < 126 => wire.push(short),
        (_, Ok(medium)) => {
            wire.push(126);
            wire.extend_from_slice(&medium.to_be_bytes());
        }
        _ => {
            wire.push(127);
            wire.extend_from_slice(&u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
        }
    }
    wire.extend_from_slice(payload);
    Bytes::from(wire)
}

/// Frames a chat-lane receiver holds before it lags (see [`Rooms`]).
pub const CHAT_LANE_CAPACITY: usize = 128;

/// Frames a user's own room holds per receiver (see [`RoomKey::User`]).
pub const USER_LANE_CAPACITY: usize = 16;

/// The two lanes of one room.
struct Lanes {
    events: broadcast::Sender<Frame>,
    chat: broadcast::Sender<Bytes>,
    /// See [`Rooms::delivery_turn`]; made when first asked for.
    delivery: OnceLock<Arc<Semaphore>>,
}

impl Lanes {
    fn idle(&self) -> bool {
        self.events.receiver_count() == 0 && self.chat.receiver_count() == 0
    }
}

/// Both lanes of a room, subscribed at once, and the guard that drops the
/// room once its last subscriber has gone.
///
/// Fields drop in order: both receivers first, then the guard, which then
/// sees the room's true count. Split it with [`Subscription::into_parts`]
/// and keep the guard until both receivers are dropped.
#[derive(Debug)]
pub struct Subscription {
    /// Auction events.
    pub events: broadcast::Receiver<Frame>,
    /// Chat and presence.
    pub chat: broadcast::Receiver<Bytes>,
    /// Removes the room when dropped, if nobody listens any more.
    pub guard: RoomGuard,
}

impl Subscription {
    /// The two receivers and the guard.
    #[must_use]
    pub fn into_parts(
        self,
    ) -> (
        broadcast::Receiver<Frame>,
        broadcast::Receiver<Bytes>,
        RoomGuard,
    ) {
        (self.events, self.chat, self.guard)
    }
}

/// Drops its room from the hub, once nobody listens to it, when dropped.
/// Drop it after the receivers it came with.
pub struct RoomGuard {
    rooms: Arc<DashMap<RoomKey, Lanes>>,
    room: RoomKey,
}

impl fmt::Debug for RoomGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RoomGuard").field(&self.room).finish()
    }
}

impl Drop for RoomGuard {
    fn drop(&mut self) {
        // Under the shard's lock: a session joining meanwhile either comes
        // first (the room is not idle) or finds no room and makes a new one.
        self.rooms.remove_if(&self.room, |_, lanes| lanes.idle());
    }
}

/// Carries what is published on this node to the other nodes of a cluster
/// (each delivers it to its own subscribers with [`Rooms::deliver`],
/// [`Rooms::deliver_chat`] and [`Rooms::deliver_auction`]). Called on the
/// publisher's thread: it must only enqueue, never wait.
pub trait RoomRelay: Send + Sync + 'static {
    /// An auction event frame (with its seq), published to the auction's
    /// room and, when it has one, its show's.
    fn auction_frame(&self, auction_id: AuctionId, show_id: Option<ShowId>, frame: &Frame);
    /// Any other events-lane frame.
    fn room_frame(&self, room: RoomKey, frame: &Frame);
    /// A chat-lane frame.
    fn chat_frame(&self, room: RoomKey, frame: &Bytes);
    /// This node's presence in `room` (its connections, and its distinct
    /// signed-in viewers); answers the other nodes' sums, as last heard.
    fn presence(&self, room: RoomKey, here: Presence) -> Presence;
    /// Something the other nodes must act on (see [`RoomNotice`]).
    fn notice(&self, room: RoomKey, notice: RoomNotice);
}

/// What a node tells the others about a room besides its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomNotice {
    /// The room's mutes, bans or slow mode changed in the store: read them
    /// again.
    ChatRestrictionsChanged,
    /// Announced in a user's own room: that user's cards on file changed
    /// in the store (one saved or removed); forget what was read of them.
    PaymentMethodsChanged,
}

/// Acts on the other nodes' notices on this node.
pub type NoticeListener = Arc<dyn Fn(RoomKey, RoomNotice) + Send + Sync>;

/// Who is in a room: subscribed connections and distinct signed-in users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presence {
    /// Subscribed connections.
    pub connections: u32,
    /// Distinct signed-in users (summed over nodes in a cluster: a user
    /// connected to two nodes counts on each).
    pub viewers: u32,
}

/// Numbers the hubs made in this process ([`Rooms::id`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The hub of rooms; cheap to clone (shared map).
#[derive(Clone)]
pub struct Rooms {
    /// Lock-free for readers of different rooms: sessions subscribe while
    /// actors on other threads publish.
    rooms: Arc<DashMap<RoomKey, Lanes>>,
    capacity: usize,
    /// Tells this hub from any other in the process (see [`Rooms::id`]).
    id: u64,
    /// The other nodes, in a cluster (set once, after start).
    relay: Arc<OnceLock<Arc<dyn RoomRelay>>>,
    /// Who act on the other nodes' notices here, each told every notice.
    listeners: Arc<RwLock<Vec<NoticeListener>>>,
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("rooms", &self.rooms.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for Rooms {
    fn default() -> Self {
        Self::new(256)
    }
}

impl Rooms {
    /// A hub whose rooms buffer `capacity` frames per receiver before it lags.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            rooms: Arc::new(DashMap::new()),
            capacity: capacity.max(1),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            relay: Arc::default(),
            listeners: Arc::default(),
        }
    }

    /// This hub's number, the same for each of its clones and unique in the
    /// process: what keys state kept per hub elsewhere.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Frames an auction or show room buffers per receiver before it lags.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Tells the other nodes `notice` about `room` (nothing on a single node).
    pub fn announce(&self, room: RoomKey, notice: RoomNotice) {
        if let Some(relay) = self.relay() {
            relay.notice(room, notice);
        }
    }

    /// Has `listener` act on the notices other nodes announce, beside
    /// those already listening (each picks the notices it acts on).
    pub fn listen(&self, listener: NoticeListener) {
        self.listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }

    /// A notice another node announced (what a relay delivers).
    pub fn hear(&self, room: RoomKey, notice: RoomNotice) {
        // Copied out: a listener may take its time, and none holds the list.
        let listeners = self
            .listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for listener in &listeners {
            listener(room, notice);
        }
    }

    /// Sends everything published from now on to the other nodes through
    /// `relay` as well. Only the first call takes effect; answers whether
    /// it did.
    pub fn set_relay(&self, relay: Arc<dyn RoomRelay>) -> bool {
        self.relay.set(relay).is_ok()
    }

    fn relay(&self) -> Option<&dyn RoomRelay> {
        self.relay.get().map(AsRef::as_ref)
    }

    fn lanes(&self, room: RoomKey) -> dashmap::mapref::one::RefMut<'_, RoomKey, Lanes> {
        // A user's own room carries a few personal frames and no chat: every
        // signed-in connection has one, so its buffers stay small.
        let (events, chat) = match room {
            RoomKey::User(_) => (USER_LANE_CAPACITY, 1),
            RoomKey::Auction(_) | RoomKey::Show(_) => (self.capacity, CHAT_LANE_CAPACITY),
        };
        self.rooms.entry(room).or_insert_with(|| Lanes {
            events: broadcast::channel(events).0,
            chat: broadcast::channel(chat).0,
            delivery: OnceLock::new(),
        })
    }

    /// The turn at delivering `room`'s frames to this node's watchers: one
    /// permit, shared by every thread that writes the room to its own
    /// connections, for them to take in turn. It goes with the room.
    #[must_use]
    pub fn delivery_turn(&self, room: RoomKey) -> Arc<Semaphore> {
        Arc::clone(
            self.lanes(room)
                .delivery
                .get_or_init(|| Arc::new(Semaphore::new(1))),
        )
    }

    /// Joins `room`'s events lane: frames published from now on arrive on the receiver.
    #[must_use]
    pub fn subscribe(&self, room: RoomKey) -> broadcast::Receiver<Frame> {
        self.lanes(room).events.subscribe()
    }

    /// Joins `room`'s chat lane.
    #[must_use]
    pub fn subscribe_chat(&self, room: RoomKey) -> broadcast::Receiver<Bytes> {
        self.lanes(room).chat.subscribe()
    }

    /// Joins both lanes of `room` at once. The room is removed from the hub
    /// when the last subscription's receivers and guard are dropped, so call
    /// this only for a room whose auction or show is known to exist.
    #[must_use]
    pub fn join(&self, room: RoomKey) -> Subscription {
        let lanes = self.lanes(room);
        Subscription {
            events: lanes.events.subscribe(),
            chat: lanes.chat.subscribe(),
            guard: RoomGuard {
                rooms: Arc::clone(&self.rooms),
                room,
            },
        }
    }

    /// How many rooms the hub holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether the hub holds no room.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Sends `frame` to everyone on `room`'s events lane, on every node;
    /// returns how many receivers here got it. A room nobody listens to is
    /// dropped.
    pub fn publish(&self, room: RoomKey, frame: Frame) -> usize {
        if let Some(relay) = self.relay() {
            relay.room_frame(room, &frame);
        }
        self.deliver(room, frame)
    }

    /// Sends `frame` to everyone on `room`'s chat lane, on every node;
    /// returns how many receivers here got it.
    pub fn publish_chat(&self, room: RoomKey, frame: Bytes) -> usize {
        if let Some(relay) = self.relay() {
            relay.chat_frame(room, &frame);
        }
        self.deliver_chat(room, frame)
    }

    /// Sends an auction event frame to the auction's room and its show's,
    /// on every node; returns how many receivers here got it.
    pub fn publish_auction(
        &self,
        auction_id: AuctionId,
        show_id: Option<ShowId>,
        frame: Frame,
    ) -> usize {
        if let Some(relay) = self.relay() {
            relay.auction_frame(auction_id, show_id, &frame);
        }
        self.deliver_auction(auction_id, show_id, frame)
    }

    /// Tells the other nodes this node's presence in `room` and answers the
    /// whole room's (this node's alone on a single node).
    #[must_use]
    pub fn share_presence(&self, room: RoomKey, here: Presence) -> Presence {
        let elsewhere = self
            .relay()
            .map_or_else(Presence::default, |relay| relay.presence(room, here));
        Presence {
            connections: here.connections.saturating_add(elsewhere.connections),
            viewers: here.viewers.saturating_add(elsewhere.viewers),
        }
    }

    /// [`Rooms::publish`] on this node alone (what a relay delivers).
    pub fn deliver(&self, room: RoomKey, frame: Frame) -> usize {
        self.send(room, frame, |lanes| &lanes.events)
    }

    /// [`Rooms::publish_chat`] on this node alone.
    pub fn deliver_chat(&self, room: RoomKey, frame: Bytes) -> usize {
        self.send(room, frame, |lanes| &lanes.chat)
    }

    /// [`Rooms::publish_auction`] on this node alone.
    pub fn deliver_auction(
        &self,
        auction_id: AuctionId,
        show_id: Option<ShowId>,
        frame: Frame,
    ) -> usize {
        let in_show = show_id.map_or(0, |show_id| {
            self.deliver(RoomKey::Show(show_id), frame.clone())
        });
        in_show + self.deliver(RoomKey::Auction(auction_id), frame)
    }

    fn send<T>(&self, room: RoomKey, frame: T, lane: fn(&Lanes) -> &broadcast::Sender<T>) -> usize {
        let delivered = self
            .rooms
            .get(&room)
            .map_or(0, |lanes| lane(&lanes).send(frame).unwrap_or(0));
        if delivered == 0 {
            self.rooms.remove_if(&room, |_, lanes| lanes.idle());
        }
        delivered
    }

    /// How many receivers `room`'s events lane has.
    #[must_use]
    pub fn subscriber_count(&self, room: RoomKey) -> usize {
        self.rooms
            .get(&room)
            .map_or(0, |lanes| lanes.events.receiver_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &'static [u8]) -> Frame {
        Frame::new(None, Bytes::from_static(text))
    }

    #[test]
    fn a_frame_is_encoded_once_as_an_unmasked_websocket_text_frame() {
        for (len, header) in [
            (0_usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65_535, vec![0x81, 126, 0xff, 0xff]),
            (65_536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let json = Bytes::from(vec![b'x'; len]);
            let frame = Frame::new(Some(7), json.clone());
            assert_eq!(frame.bytes, json, "the JSON is kept as it was");
            assert_eq!(&frame.wire[..header.len()], &header[..], "length {len}");
            assert_eq!(&frame.wire[header.len()..], &json[..]);
        }
    }

    #[test]
    fn every_listener_hears_every_notice() {
        let rooms = Rooms::new(8);
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        for name in ["chat", "cards"] {
            let heard = Arc::clone(&heard);
            rooms.listen(Arc::new(move |room, notice| {
                heard.lock().unwrap().push((name, room, notice));
            }));
        }
        let user = RoomKey::User(UserId::new());
        rooms.hear(user, RoomNotice::PaymentMethodsChanged);
        assert_eq!(
            *heard.lock().unwrap(),
            [
                ("chat", user, RoomNotice::PaymentMethodsChanged),
                ("cards", user, RoomNotice::PaymentMethodsChanged),
            ]
        );
    }

    #[test]
    fn room_keys_parse_and_print() {
        let id = AuctionId::new();
        let key: RoomKey = format!("auction:{id}").parse().unwrap();
        assert_eq!(key, RoomKey::Auction(id));
        assert_eq!(key.to_string(), format!("auction:{id}"));
        assert!("lobby:1".parse::<RoomKey>().is_err());
        assert!("show:nope".parse::<RoomKey>().is_err());
    }

    #[tokio::test]
    async fn frames_reach_every_subscriber_and_empty_rooms_are_dropped() {
        let rooms = Rooms::new(8);
        let key = RoomKey::Show(ShowId::new());
        assert_eq!(rooms.publish(key, frame(b"lost")), 0);
        let mut a = rooms.subscribe(key);
        let mut b = rooms.subscribe(key);
        assert_eq!(rooms.publish(key, frame(b"hi")), 2);
        assert_eq!(a.recv().await.unwrap().bytes, "hi");
        assert_eq!(b.recv().await.unwrap().bytes, "hi");
        drop((a, b));
        assert_eq!(rooms.publish(key, frame(b"x")), 0);
        assert_eq!(rooms.subscriber_count(key), 0);
    }

    #[tokio::test]
    async fn chat_has_a_lane_of_its_own_that_never_fills_the_events_lane() {
        let rooms = Rooms::new(2);
        let key = RoomKey::Auction(AuctionId::new());
        let Subscription {
            mut events,
            mut chat,
            guard,
        } = rooms.join(key);
        for n in 0..CHAT_LANE_CAPACITY + 10 {
            let frame = Bytes::from(format!("chat {n}"));
            assert_eq!(rooms.publish_chat(key, frame), 1);
        }
        assert_eq!(rooms.publish(key, frame(b"bid")), 1);
        // The events lane holds two frames: chat took none of its room.
        assert_eq!(events.recv().await.unwrap().bytes, "bid");
        // The chat lane lagged on its own; it resumes with what it still holds.
        assert!(matches!(
            chat.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
        assert_eq!(chat.recv().await.unwrap(), "chat 10");
        // A room with a chat listener only is kept.
        drop(events);
        assert_eq!(rooms.publish(key, frame(b"x")), 0);
        assert_eq!(rooms.publish_chat(key, Bytes::new()), 1);
        drop((chat, guard));
        assert!(rooms.is_empty());
    }

    #[test]
    fn a_room_goes_with_its_last_subscriber_without_a_publish() {
        let rooms = Rooms::new(8);
        let key = RoomKey::Auction(AuctionId::new());
        let first = rooms.join(key);
        let (events, chat, guard) = rooms.join(key).into_parts();
        assert_eq!(rooms.len(), 1);
        drop(first);
        // One subscriber is left: the room stays.
        assert_eq!(rooms.len(), 1);
        drop((events, chat));
        assert_eq!(rooms.len(), 1);
        drop(guard);
        assert!(rooms.is_empty());
        // Thousands of joins and leaves leave nothing behind.
        for _ in 0..10_000 {
            let _gone = rooms.join(RoomKey::Show(ShowId::new()));
        }
        assert!(rooms.is_empty());
    }
}

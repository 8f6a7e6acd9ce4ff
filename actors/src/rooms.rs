//! The rooms hub: fan-out without loops over subscribers.
//!
//! A room is a `tokio::sync::broadcast` channel of `Bytes`: the publisher
//! serializes a frame once and sends the same `Bytes` to every receiver;
//! each session reads at its own pace. A receiver that falls behind gets
//! `RecvError::Lagged` and should resync from a fresh `auction.snapshot`
//! (see `Engine::snapshot_frame`) rather than grow a buffer.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::broadcast;

use crate::domain::{AuctionId, ShowId};

/// A room: `auction:<uuid>` or `show:<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKey {
    /// Every event of one auction.
    Auction(AuctionId),
    /// Every event of every auction in one show.
    Show(ShowId),
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

/// The hub of rooms; cheap to clone (shared map).
#[derive(Clone)]
pub struct Rooms {
    /// Lock-free for readers of different rooms: sessions subscribe while
    /// actors on other threads publish.
    rooms: Arc<DashMap<RoomKey, broadcast::Sender<Bytes>>>,
    capacity: usize,
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
        }
    }

    /// Joins `room`: frames published from now on arrive on the receiver.
    #[must_use]
    pub fn subscribe(&self, room: RoomKey) -> broadcast::Receiver<Bytes> {
        self.rooms
            .entry(room)
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Sends `frame` to everyone in `room`; returns how many receivers got it.
    /// A room nobody listens to is dropped.
    pub fn publish(&self, room: RoomKey, frame: Bytes) -> usize {
        let delivered = self
            .rooms
            .get(&room)
            .map_or(0, |sender| sender.send(frame).unwrap_or(0));
        if delivered == 0 {
            self.rooms
                .remove_if(&room, |_, sender| sender.receiver_count() == 0);
        }
        delivered
    }

    /// How many receivers `room` has.
    #[must_use]
    pub fn subscriber_count(&self, room: RoomKey) -> usize {
        self.rooms
            .get(&room)
            .map_or(0, |sender| sender.receiver_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(rooms.publish(key, Bytes::from_static(b"lost")), 0);
        let mut a = rooms.subscribe(key);
        let mut b = rooms.subscribe(key);
        assert_eq!(rooms.publish(key, Bytes::from_static(b"hi")), 2);
        assert_eq!(a.recv().await.unwrap(), "hi");
        assert_eq!(b.recv().await.unwrap(), "hi");
        drop((a, b));
        assert_eq!(rooms.publish(key, Bytes::from_static(b"x")), 0);
        assert_eq!(rooms.subscriber_count(key), 0);
    }
}

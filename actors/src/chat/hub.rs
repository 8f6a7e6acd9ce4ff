//! `ChatHub`: finds or starts the chat room actor of a room.

use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;

use super::store::ChatStore;
use super::{ChatRoom, PresenceIndex};
use crate::ports::Clock;
use crate::rooms::{RoomKey, RoomNotice, Rooms};

/// Per-user message rates of every room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatSettings {
    /// Messages per user a second, sustained (0: no limit).
    pub rate_per_sec: u32,
    /// Messages per user in a burst.
    pub burst: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            rate_per_sec: 1,
            burst: 5,
        }
    }
}

/// The chat rooms of this node; cheap to clone.
#[derive(Clone)]
pub struct ChatHub {
    rooms: Rooms,
    settings: ChatSettings,
    store: Arc<dyn ChatStore>,
    clock: Arc<dyn Clock>,
    /// Lock-free lookups from any session's thread.
    actors: Arc<DashMap<RoomKey, Addr<ChatRoom>>>,
    /// Chat rooms run on an arbiter of their own, apart from the auctions.
    arbiter: ArbiterHandle,
    /// Who is in which room, written by the rooms' actors.
    presence: PresenceIndex,
}

impl std::fmt::Debug for ChatHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatHub")
            .field("rooms", &self.actors.len())
            .finish_non_exhaustive()
    }
}

impl ChatHub {
    /// A hub publishing to `rooms` and writing to `store`, its rooms'
    /// presence kept in `presence` (an index others may already read: the
    /// auctions' outbid notices skip a bidder who is watching). Call inside
    /// a running actix `System`: it starts the chat arbiter.
    #[must_use]
    pub fn start(
        rooms: Rooms,
        store: Arc<dyn ChatStore>,
        clock: Arc<dyn Clock>,
        settings: ChatSettings,
        presence: PresenceIndex,
    ) -> Self {
        let arbiter = Arbiter::new();
        let handle = arbiter.handle();
        // The arbiter's thread lives on until the System or
        // [`ChatHub::stop`] stops it.
        drop(arbiter);
        let actors: Arc<DashMap<RoomKey, Addr<ChatRoom>>> = Arc::new(DashMap::new());
        // In a cluster: a room whose mutes, bans or slow mode another node
        // changed reads them again. Weak: the rooms hub outlives no hub.
        let running = Arc::downgrade(&actors);
        rooms.listen(Arc::new(move |room, notice| match notice {
            RoomNotice::ChatRestrictionsChanged => {
                if let Some(actors) = running.upgrade()
                    && let Some(addr) = actors.get(&room)
                {
                    addr.do_send(super::messages::ReloadRestrictions);
                }
            }
            RoomNotice::PaymentMethodsChanged => {}
        }));
        Self {
            rooms,
            settings,
            store,
            clock,
            actors,
            arbiter: handle,
            presence,
        }
    }

    /// Stops the chat arbiter: its rooms stop (pending messages not yet
    /// written are lost) and what they hold, the store among it, is let
    /// go. For a hub that ends before its System does (at shutdown, after
    /// the server stopped).
    pub fn stop(&self) {
        self.arbiter.stop();
    }

    /// The chat room actor of `room`, started if needed.
    #[must_use]
    pub fn room(&self, room: RoomKey) -> Addr<ChatRoom> {
        if let Some(addr) = self.actors.get(&room).filter(|a| a.connected()) {
            return addr.clone();
        }
        self.actors
            .entry(room)
            .and_modify(|addr| {
                if !addr.connected() {
                    *addr = self.spawn(room);
                }
            })
            .or_insert_with(|| self.spawn(room))
            .clone()
    }

    /// The chat room actor of `room` if one runs (none is started).
    #[must_use]
    pub fn running(&self, room: RoomKey) -> Option<Addr<ChatRoom>> {
        self.actors
            .get(&room)
            .filter(|a| a.connected())
            .map(|a| a.clone())
    }

    /// The signed-in users present in `room` (none when no chat room runs
    /// there, or when it does not answer).
    pub async fn present(&self, room: RoomKey) -> Vec<crate::domain::UserId> {
        match self.running(room) {
            Some(addr) => addr
                .send(super::messages::Present)
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Who is in which room (a lookup; no room's actor is asked).
    #[must_use]
    pub fn presence(&self) -> &PresenceIndex {
        &self.presence
    }

    /// How many chat room actors run.
    #[must_use]
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether no chat room actor runs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }

    fn spawn(&self, room: RoomKey) -> Addr<ChatRoom> {
        let hub = self.clone();
        ChatRoom::start_in_arbiter(&self.arbiter, move |_| ChatRoom::new(room, hub))
    }

    pub(super) fn forget(&self, room: RoomKey) {
        self.actors.remove_if(&room, |_, addr| !addr.connected());
    }

    pub(super) fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    pub(super) fn store(&self) -> Arc<dyn ChatStore> {
        self.store.clone()
    }

    pub(super) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub(super) fn settings(&self) -> ChatSettings {
        self.settings
    }
}

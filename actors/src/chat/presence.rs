//! `PresenceIndex`: who is in which room on this node, for any thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::domain::UserId;
use crate::rooms::RoomKey;

/// The signed-in users each room's actor counts as present, mirrored so
/// that a question like "is this bidder watching the lot?" is a lookup on
/// the asking thread rather than a message to the room's actor and a wait
/// for its answer (the outbid notices ask it for every bid). Each room's
/// actor writes only its own entries: a user is in the index while they
/// have at least one connection in the room. Cheap to clone.
///
/// Each entry names the actor that listed it ([`Lister`]). A room's actor
/// that stops with users still listed (the hub shutting down) removes them,
/// and a new actor of the same room may already have listed some of them
/// again: the stopping one removes only the entries it made.
#[derive(Debug, Clone, Default)]
pub struct PresenceIndex(Arc<DashMap<(RoomKey, UserId), Lister>>);

/// One room actor's mark on the entries it makes, unique on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lister(u64);

impl Lister {
    /// A mark no other actor of this process holds.
    pub(super) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl PresenceIndex {
    /// Whether `user` has a connection in `room` on this node.
    #[must_use]
    pub fn contains(&self, room: RoomKey, user: UserId) -> bool {
        self.0.contains_key(&(room, user))
    }

    /// Lists `user` in `room`, as `lister`'s entry.
    pub(super) fn insert(&self, room: RoomKey, user: UserId, lister: Lister) {
        self.0.insert((room, user), lister);
    }

    /// Removes `user` from `room` if `lister` made the entry.
    pub(super) fn remove(&self, room: RoomKey, user: UserId, lister: Lister) {
        self.0
            .remove_if(&(room, user), |_, made_by| *made_by == lister);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuctionId;

    #[test]
    fn a_stopping_actor_leaves_the_entries_a_newer_actor_of_its_room_made() {
        let index = PresenceIndex::default();
        let room = RoomKey::Auction(AuctionId::new());
        let (ann, bob) = (UserId::new(), UserId::new());
        let (old, new) = (Lister::new(), Lister::new());
        index.insert(room, ann, old);
        index.insert(room, bob, old);
        // The room's new actor lists Ann again before the old one is gone.
        index.insert(room, ann, new);
        // The old one stops and removes what it had listed.
        index.remove(room, ann, old);
        index.remove(room, bob, old);
        assert!(index.contains(room, ann), "the new actor's entry stays");
        assert!(!index.contains(room, bob));
        index.remove(room, ann, new);
        assert!(!index.contains(room, ann));
    }
}

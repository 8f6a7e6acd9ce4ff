//! `PresenceIndex`: who is in which room on this node, for any thread.

use std::sync::Arc;

use dashmap::DashSet;

use crate::domain::UserId;
use crate::rooms::RoomKey;

/// The signed-in users each room's actor counts as present, mirrored so
/// that a question like "is this bidder watching the lot?" is a lookup on
/// the asking thread rather than a message to the room's actor and a wait
/// for its answer (the outbid notices ask it for every bid). Each room's
/// actor writes only its own entries: a user is in the index while they
/// have at least one connection in the room. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct PresenceIndex(Arc<DashSet<(RoomKey, UserId)>>);

impl PresenceIndex {
    /// Whether `user` has a connection in `room` on this node.
    #[must_use]
    pub fn contains(&self, room: RoomKey, user: UserId) -> bool {
        self.0.contains(&(room, user))
    }

    pub(super) fn insert(&self, room: RoomKey, user: UserId) {
        self.0.insert((room, user));
    }

    pub(super) fn remove(&self, room: RoomKey, user: UserId) {
        self.0.remove(&(room, user));
    }
}

//! [`Emitter`]: how `decide` and the bidding rules number the events they emit.

use chrono::{DateTime, Utc};

use super::{AuctionState, Event, EventKind};

/// Numbers events gaplessly after the state's last `seq`, all at `now`.
#[derive(Debug)]
pub(super) struct Emitter<'a> {
    state: &'a AuctionState,
    now: DateTime<Utc>,
    events: Vec<Event>,
}

impl<'a> Emitter<'a> {
    pub(super) fn new(state: &'a AuctionState, now: DateTime<Utc>) -> Self {
        Self {
            state,
            now,
            events: Vec::new(),
        }
    }

    pub(super) fn emit(&mut self, kind: EventKind) {
        let seq = self.state.seq + 1 + self.events.len() as u64;
        self.events.push(Event {
            auction_id: self.state.config.id,
            seq,
            at: self.now,
            kind,
        });
    }

    /// The events emitted so far, in order.
    pub(super) fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events emitted, in order.
    pub(super) fn into_events(self) -> Vec<Event> {
        self.events
    }
}

//! Commit, then acknowledge, then publish; the deadline timer; snapshots.

use std::collections::VecDeque;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::observer::{AuctionFact, Before, facts_of};
use super::{AuctionActor, MAX_SNAPSHOT_STRETCH};
use crate::AuctionError;
use crate::ports::{Fence, JournalEntry, JournalError, Snapshot};
use crate::rooms::Frame;
use crate::rules::{AuctionState, AuctionStatus, Event, EventKind, Rejection, apply, close};
use crate::view::{AuctionView, event_frame};

/// A batch handed to the journal writer.
#[derive(Debug)]
pub(super) struct InFlight {
    last_seq: u64,
    done: bool,
}

type Reply = Box<dyn FnOnce(Result<(), AuctionError>)>;

/// Something released once its seq is durable.
pub(super) enum Pending {
    Reply { seq: u64, send: Reply },
    Frame { seq: u64, frame: Frame },
    Snapshot(Box<Snapshot>),
    Fact { seq: u64, fact: AuctionFact },
}

impl Pending {
    fn seq(&self) -> u64 {
        match self {
            Self::Reply { seq, .. } | Self::Frame { seq, .. } | Self::Fact { seq, .. } => *seq,
            Self::Snapshot(snapshot) => snapshot.seq,
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Reply { .. } => "reply",
            Self::Frame { .. } => "frame",
            Self::Snapshot(_) => "snapshot",
            Self::Fact { .. } => "fact",
        };
        write!(f, "{kind}@{}", self.seq())
    }
}

impl AuctionActor {
    /// Judges a command now with `judge` (the rules' `decide` for it), after
    /// ending the auction if its deadline passed first; applies and submits
    /// the events. Returns the judged events.
    pub(super) fn execute(
        &mut self,
        judge: impl FnOnce(&AuctionState, DateTime<Utc>) -> Result<Vec<Event>, Rejection>,
        ctx: &mut Context<Self>,
    ) -> Result<Vec<Event>, AuctionError> {
        // A deadline that passed before this command ends the auction first.
        self.close_if_due(ctx)?;
        let events = judge(&self.state, self.now())?;
        self.commit(events.clone(), ctx);
        Ok(events)
    }

    /// Ends the auction if it is live and its deadline has passed; answers
    /// whether it did.
    pub(super) fn close_if_due(&mut self, ctx: &mut Context<Self>) -> Result<bool, AuctionError> {
        self.serving(ctx)?;
        let closing = close(&self.state, self.now());
        let closed = !closing.is_empty();
        if closed {
            self.commit(closing, ctx);
        }
        Ok(closed)
    }

    fn commit(&mut self, events: Vec<Event>, ctx: &mut Context<Self>) {
        if events.is_empty() {
            return;
        }
        let mut entries = Vec::with_capacity(events.len());
        let mut snapshot_due = false;
        let observed = self.deps.observer.is_some();
        let mut facts = Vec::new();
        for event in events {
            let before = observed.then(|| Before::of(&self.state, &event));
            apply(&mut self.state, &event);
            if let Some(before) = before {
                facts.extend(
                    facts_of(before, &self.state, &event)
                        .into_iter()
                        .map(|fact| (event.seq, fact)),
                );
            }
            self.pending.push_back(Pending::Frame {
                seq: event.seq,
                frame: Frame::new(Some(event.seq), event_frame(&self.state, &event)),
            });
            snapshot_due |= matches!(
                event.kind,
                EventKind::Paused { .. } | EventKind::Ended { .. } | EventKind::Cancelled
            );
            self.events_since_snapshot += 1;
            let mut entry = JournalEntry::without_view(event, &self.state);
            entry.fence = self.fence;
            entries.push(entry);
        }
        for (seq, fact) in facts {
            self.pending.push_back(Pending::Fact { seq, fact });
        }
        // The store keeps the newest view of each auction: the last entry carries it.
        if let Some(last) = entries.last_mut() {
            last.view = Some(AuctionView::of(&self.state, last.event.at));
        }
        if snapshot_due || self.events_since_snapshot >= self.snapshot_spacing() {
            self.events_since_snapshot = 0;
            self.pending.push_back(Pending::Snapshot(Box::new(Snapshot {
                seq: self.state.seq,
                state: self.state.clone(),
            })));
        }
        self.floor.applied(&self.state);
        let last_seq = self.state.seq;
        self.inflight.push_back(InFlight {
            last_seq,
            done: false,
        });
        let durable = self.deps.journal.submit(entries);
        ctx.spawn(
            durable
                .into_actor(self)
                .map(move |result, act, ctx| act.on_durable(last_seq, result, ctx)),
        );
        self.arm_timer(ctx);
        if self.state.status.is_final() {
            self.schedule_eviction(ctx);
        }
    }

    /// Events between two snapshots: `snapshot_every`, stretched to as many
    /// as the state remembers bid `request_id`s, at most
    /// [`MAX_SNAPSHOT_STRETCH`] times as far.
    ///
    /// The remembered ids are most of a busy auction's state (up to
    /// [`crate::rules::MAX_REQUEST_IDS_PER_BIDDER`] for each bidder, each
    /// about as much JSON as its event), and every snapshot copies and
    /// writes all of them: every 100 events, 50 bidders made a 270 KiB
    /// snapshot ten times a second. Spaced by what it holds, a snapshot
    /// writes less per event than the journal does, and a restart replays
    /// at most `snapshot_every` times [`MAX_SNAPSHOT_STRETCH`] events.
    fn snapshot_spacing(&self) -> u64 {
        let every = self.deps.settings.snapshot_every;
        if self.events_since_snapshot < every {
            return every;
        }
        let remembered = self.state.remembered_requests() as u64;
        remembered.clamp(every, every.saturating_mul(MAX_SNAPSHOT_STRETCH))
    }

    /// Sends `result` (an answer or a rejection, both judged against
    /// memory) once everything applied so far is durable.
    pub(super) fn reply_when_durable<T: 'static>(
        &mut self,
        result: Result<T, AuctionError>,
        send: impl FnOnce(Result<T, AuctionError>) + 'static,
    ) {
        if self.failed || (self.pending.is_empty() && self.state.seq <= self.durable_seq) {
            send(result);
            return;
        }
        self.pending.push_back(Pending::Reply {
            seq: self.state.seq,
            send: Box::new(move |durable| send(durable.and(result))),
        });
    }

    fn on_durable(
        &mut self,
        last_seq: u64,
        result: Result<(), JournalError>,
        ctx: &mut Context<Self>,
    ) {
        if let Err(error) = result {
            self.fail_append(error, ctx);
            return;
        }
        if let Some(batch) = self.inflight.iter_mut().find(|b| b.last_seq == last_seq) {
            batch.done = true;
        }
        while self.inflight.front().is_some_and(|b| b.done) {
            if let Some(batch) = self.inflight.pop_front() {
                self.durable_seq = batch.last_seq;
            }
        }
        self.release();
    }

    /// Releases everything durable: replies first, then frames, then snapshots.
    fn release(&mut self) {
        let mut ready = VecDeque::new();
        while self
            .pending
            .front()
            .is_some_and(|p| p.seq() <= self.durable_seq)
        {
            if let Some(item) = self.pending.pop_front() {
                ready.push_back(item);
            }
        }
        let (mut frames, mut snapshots, mut facts) = (Vec::new(), Vec::new(), Vec::new());
        for item in ready {
            match item {
                Pending::Reply { send, .. } => send(Ok(())),
                Pending::Frame { frame, .. } => frames.push(frame),
                Pending::Snapshot(snapshot) => snapshots.push(snapshot),
                Pending::Fact { fact, .. } => facts.push(fact),
            }
        }
        // The bids refused against the floor are answered with the replies,
        // before the frames.
        self.floor.durable(self.durable_seq);
        let id = self.state.config.id;
        let show = self.state.config.show_id;
        for frame in frames {
            self.deps.rooms.publish_auction(id, show, frame);
        }
        if let Some(observer) = &self.deps.observer {
            for fact in facts {
                observer.observe(fact);
            }
        }
        for snapshot in snapshots {
            // Written with the journal's next group, in its commit.
            self.deps.journal.save_snapshot(id, snapshot);
        }
    }

    /// Whether this actor may still answer: not after a failed append, nor
    /// once its shard is leased to another node (it stops then, and the
    /// engine asks the owner).
    pub(super) fn serving(&mut self, ctx: &mut Context<Self>) -> Result<(), AuctionError> {
        if self.failed {
            return Err(AuctionError::Unavailable);
        }
        if let (Some(fence), Some(placement)) = (self.fence, &self.deps.placement)
            && !placement.holds(fence)
        {
            tracing::info!(auction_id = %self.state.config.id, shard = fence.shard, "the shard moved; the auction actor stops");
            self.fail(AuctionError::Moved, ctx);
            return Err(AuctionError::Moved);
        }
        Ok(())
    }

    /// An append failed: nothing waiting is acknowledged or published.
    fn fail_append(&mut self, error: JournalError, ctx: &mut Context<Self>) {
        let error = match error {
            JournalError::Fenced { shard, epoch } => {
                tracing::warn!(auction_id = %self.state.config.id, shard, epoch, "fenced: another node took the shard over; nothing of the batch is durable");
                if let Some(placement) = &self.deps.placement {
                    placement.fenced(Fence { shard, epoch });
                }
                AuctionError::Moved
            }
            error => {
                tracing::error!(auction_id = %self.state.config.id, %error, "journal append failed; restarting the auction from the journal");
                AuctionError::Journal(error)
            }
        };
        self.fail(error, ctx);
    }

    /// Fails every waiting reply with `error` and stops: nothing waiting is
    /// acknowledged or published.
    fn fail(&mut self, error: AuctionError, ctx: &mut Context<Self>) {
        self.failed = true;
        self.floor.close();
        for item in self.pending.drain(..) {
            if let Pending::Reply { send, .. } = item {
                send(Err(error.clone()));
            }
        }
        ctx.stop();
    }

    /// (Re-)arms the deadline timer for the current deadline.
    pub(super) fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if self.state.status != AuctionStatus::Live {
            if self.state.status.is_final() {
                self.schedule_eviction(ctx);
            }
            return;
        }
        let Some(ends_at) = self.state.ends_at else {
            return;
        };
        let delay = (ends_at - self.deps.clock.now())
            .to_std()
            .unwrap_or_default();
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            if act.failed {
                return;
            }
            match act.close_if_due(ctx) {
                // Not due yet by the clock: wait again.
                Ok(false) => act.arm_timer(ctx),
                Ok(true) => {}
                Err(error) => tracing::warn!(%error, "closing the auction failed"),
            }
        }));
    }

    fn schedule_eviction(&mut self, ctx: &mut Context<Self>) {
        if self.eviction_scheduled {
            return;
        }
        self.eviction_scheduled = true;
        ctx.run_later(self.deps.settings.eviction_grace, |act, ctx| {
            if act.pending.is_empty() && act.inflight.is_empty() {
                ctx.stop();
            } else {
                act.eviction_scheduled = false;
                act.schedule_eviction(ctx);
            }
        });
    }

    /// Server time now (whole milliseconds).
    pub(super) fn now(&self) -> chrono::DateTime<Utc> {
        self.deps.clock.now()
    }
}

//! An auction room's frames, written by one loop per worker.
//!
//! With a receiver of the room's broadcast lane per watcher, every frame
//! wakes each watcher's task, which is polled through its connection's
//! future, its writer's lanes and its receiver before it writes. Here each
//! worker keeps one [`Hub`] per auction room it has watchers of, with one
//! receiver: a frame wakes the hub's task alone, and it writes the frame's
//! bytes straight to each idle watcher's socket with a non-blocking write.
//!
//! A watcher with anything of its own to write (a reply, bytes its socket
//! has not taken, a frame handed over before) is handed the frame instead,
//! behind what it has, and its writer sends it in turn: the room's order is
//! kept, and a bid's answer, queued before its frame is published, still
//! leaves first.
//!
//! Joining: a watcher's own receiver is subscribed before its snapshot is
//! read, as for any room. At the join the hub is subscribed first, then
//! what the own receiver holds is handed over and the receiver dropped; the
//! hub delivers everything after. Auction frames carry their seq and a
//! member skips frames at or below the last it got, so a frame reached both
//! ways goes out once, and one already in the snapshot not at all.
//!
//! Lag: a watcher whose handed-over frames reach the room's capacity is
//! resynced (its frames of the room dropped, a fresh snapshot read by its
//! writer), as a lagging receiver is; when the hub's own receiver lags,
//! every member is.
//!
//! Sweeps: a room larger than one turn is swept by one worker at a time.
//! The hubs of a room on the node's workers share the room's delivery turn
//! ([`Rooms::delivery_turn`]), and a hub holds it from its run's first
//! member to its last. Two workers
//! sweeping one room at once each send on one core while the other's sends
//! and the receiving end take the rest: on two cores a frame cost more CPU
//! and arrived later than with one sweep at a time (`docs/performance.md`).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use blytz_actors::rooms::{Frame, RoomKey, Rooms};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::PollSemaphore;

use super::queue::Probe;

/// What a hub handed a busy connection's writer.
#[derive(Debug)]
pub enum Handed {
    /// A frame of the room, to write in turn.
    Frame(RoomKey, Frame),
    /// The room's frames were dropped: resync it.
    Lagged(RoomKey),
}

impl Handed {
    fn room(&self) -> RoomKey {
        match self {
            Self::Frame(room, _) | Self::Lagged(room) => *room,
        }
    }
}

/// The write side of one WebSocket connection, shared by its pump (which
/// owns it), its writer and the hubs of the rooms it watches, all on the
/// connection's worker.
#[derive(Debug)]
pub struct Socket {
    /// The socket's write half, from the switch until the pump ends.
    pub(super) io: RefCell<Option<OwnedWriteHalf>>,
    /// Bytes to write, in order; the first may be partly written.
    pub(super) out: RefCell<VecDeque<Bytes>>,
    /// Frames handed over while the connection was busy, for its writer.
    handed: RefCell<VecDeque<Handed>>,
    /// The writer last said it had nothing ready.
    quiet: Cell<bool>,
    /// Nothing more goes out: a close frame is queued, or the pump ended.
    closed: Cell<bool>,
    /// The connection's task.
    waker: RefCell<Option<Waker>>,
    /// The session's commands the writer has not taken yet.
    commands: Option<Probe>,
    /// Bids of the session not yet answered.
    awaiting: Cell<u32>,
}

impl Socket {
    /// A connection's write side, before the switch gives it its socket;
    /// `commands` sees what its session queued for its writer.
    #[must_use]
    pub fn new(commands: Option<Probe>) -> Rc<Self> {
        Rc::new(Self {
            io: RefCell::new(None),
            out: RefCell::new(VecDeque::new()),
            handed: RefCell::new(VecDeque::new()),
            quiet: Cell::new(false),
            closed: Cell::new(false),
            waker: RefCell::new(None),
            commands,
            awaiting: Cell::new(0),
        })
    }

    /// The socket's write half, at the switch.
    pub fn attach(&self, io: OwnedWriteHalf) {
        *self.io.borrow_mut() = Some(io);
    }

    /// Makes `waker` the one woken when something is written or handed
    /// over for the connection's task to finish.
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(held) if held.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.borrow().as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Whether the writer has nothing ready (it said `Pending`).
    pub fn set_quiet(&self, quiet: bool) {
        self.quiet.set(quiet);
    }

    /// The session took a bid it answers later (within a commit). Until
    /// its answer, the room's frames wait for it and leave in the same
    /// write, rather than each taking a write of its own just before it.
    pub fn request_begun(&self) {
        self.awaiting.set(self.awaiting.get().saturating_add(1));
    }

    /// A bid's answer is about to be queued for the writer.
    pub fn request_ended(&self) {
        let awaiting = self.awaiting.get().saturating_sub(1);
        self.awaiting.set(awaiting);
        if awaiting == 0 && !self.handed.borrow().is_empty() {
            self.wake();
        }
    }

    /// Nothing more is written to the connection but what is queued.
    pub fn close(&self) {
        self.closed.set(true);
    }

    /// The next frame handed over, for the writer.
    pub fn take_handed(&self) -> Option<Handed> {
        let mut handed = self.handed.borrow_mut();
        let next = handed.pop_front();
        if handed.is_empty() && handed.capacity() > 0 {
            // Nothing waits: give the buffer back.
            *handed = VecDeque::new();
        }
        next
    }

    /// Drops what was handed over for `room` (the connection left it).
    pub fn forget(&self, room: RoomKey) {
        self.handed.borrow_mut().retain(|item| item.room() != room);
    }

    /// Nothing of the connection's own waits: a frame may go out at once.
    fn idle(&self) -> bool {
        self.quiet.get()
            && !self.closed.get()
            && self.out.borrow().is_empty()
            && self.handed.borrow().is_empty()
            && self.commands.as_ref().is_none_or(Probe::is_empty)
    }

    /// `frames` of `room`, whose wire bytes end to end are `wire`: written
    /// now in one write if the connection is idle, else handed to its
    /// writer; at `limit` frames handed over and unwritten, the room's are
    /// dropped for a resync. While the session owes an answer, the frames
    /// wait for it (up to half of `limit`).
    fn hand(&self, room: RoomKey, frames: &[Frame], wire: &Bytes, limit: usize) {
        if self.closed.get() {
            return;
        }
        let awaiting = self.awaiting.get() > 0;
        if !awaiting && self.idle() && self.write_now(wire) {
            return;
        }
        let waiting = self.handed.borrow().len();
        if waiting + frames.len() > limit {
            return self.lagged(room);
        }
        self.handed.borrow_mut().extend(
            frames
                .iter()
                .map(|frame| Handed::Frame(room, frame.clone())),
        );
        if !awaiting || waiting + frames.len() >= limit / 2 {
            self.wake();
        }
    }

    /// `room`'s frames were lost before reaching the connection, or too
    /// many wait for it: those waiting are dropped for a resync.
    fn lagged(&self, room: RoomKey) {
        if self.closed.get() {
            return;
        }
        {
            let mut handed = self.handed.borrow_mut();
            handed.retain(|item| item.room() != room);
            handed.push_back(Handed::Lagged(room));
        }
        self.wake();
    }

    /// Writes `wire` with one non-blocking write; what the socket does not
    /// take is left to the pump. False without a socket yet.
    fn write_now(&self, wire: &Bytes) -> bool {
        let rest = {
            let io = self.io.borrow();
            let Some(io) = io.as_ref() else {
                return false;
            };
            match io.try_write(wire) {
                Ok(written) if written >= wire.len() => return true,
                Ok(written) => wire.slice(written..),
                // Not writable now, or broken: the pump writes it, or meets
                // the error and ends the connection.
                Err(_) => wire.clone(),
            }
        };
        self.out.borrow_mut().push_back(rest);
        self.wake();
        true
    }
}

/// One watcher of a hub's room.
#[derive(Debug)]
struct Member {
    /// The seq of the last frame it got (or its snapshot's).
    last: Cell<u64>,
    socket: Weak<Socket>,
}

impl Member {
    /// Offers `frame`; false once the connection is gone.
    fn offer(&self, room: RoomKey, frame: &Frame, limit: usize) -> bool {
        self.offer_run(room, std::slice::from_ref(frame), &frame.wire, limit)
    }

    /// Offers those of `frames` (whose wire bytes end to end are `wire`)
    /// it has not had; false once the connection is gone.
    fn offer_run(&self, room: RoomKey, frames: &[Frame], wire: &Bytes, limit: usize) -> bool {
        let Some(socket) = self.socket.upgrade() else {
            return false;
        };
        // A run of more than one frame holds only frames with a seq, in
        // order, so what this member has not had is its tail.
        let last = self.last.get();
        let Some(from) = frames
            .iter()
            .position(|frame| frame.seq.is_none_or(|seq| seq > last))
        else {
            return true;
        };
        if let Some(seq) = frames.last().and_then(|frame| frame.seq) {
            self.last.set(seq);
        }
        let skipped: usize = frames[..from].iter().map(|frame| frame.wire.len()).sum();
        socket.hand(room, &frames[from..], &wire.slice(skipped..), limit);
        true
    }
}

/// Frames a hub offers its members together, each member's in one write.
#[derive(Debug)]
struct Run {
    frames: Vec<Frame>,
    /// The frames' wire bytes end to end.
    wire: Bytes,
    /// The next member to offer them to.
    next: usize,
    /// Frames that joined the run after it had passed members: those
    /// members are owed them.
    carried: Vec<Frame>,
}

impl Run {
    /// `first` and the frames after it in `pending` that can go with it
    /// (see [`Run::take_following`]), to every member. A hub that fell
    /// behind thus catches up with one write per member for all it holds,
    /// not one per frame.
    fn starting(first: Frame, pending: &mut VecDeque<Option<Frame>>) -> Self {
        let mut frames = vec![first];
        if frames[0].seq.is_some() {
            Self::take_following(&mut frames, pending);
        }
        Self {
            wire: wire_of(&frames),
            frames,
            next: 0,
            carried: Vec::new(),
        }
    }

    /// Moves the frames at the front of `pending` that have a seq into
    /// `frames`, up to the first without one or a lag.
    fn take_following(frames: &mut Vec<Frame>, pending: &mut VecDeque<Option<Frame>>) {
        while let Some(Some(frame)) = pending.front() {
            if frame.seq.is_none() {
                break;
            }
            if let Some(Some(frame)) = pending.pop_front() {
                frames.push(frame);
            }
        }
    }

    /// Frames published since the run began join it, so the members it
    /// has yet to reach get them in the same write; those it passed get
    /// them with the next run ([`Run::carry_over`]). Only a run of frames
    /// with a seq takes them.
    fn absorb(&mut self, pending: &mut VecDeque<Option<Frame>>) {
        if self.frames.iter().any(|frame| frame.seq.is_none()) {
            return;
        }
        let before = self.frames.len();
        Self::take_following(&mut self.frames, pending);
        if self.frames.len() > before {
            if self.next > 0 {
                self.carried.extend_from_slice(&self.frames[before..]);
            }
            self.wire = wire_of(&self.frames);
        }
    }

    /// Puts the frames the run took on its way back at the front of
    /// `pending`, for the members it had passed by then: the next run
    /// starts with them and takes what was published since, and the
    /// members that had them skip them by their seq.
    fn carry_over(self, pending: &mut VecDeque<Option<Frame>>) {
        for frame in self.carried.into_iter().rev() {
            pending.push_front(Some(frame));
        }
    }
}

/// `frames`' wire bytes end to end.
fn wire_of(frames: &[Frame]) -> Bytes {
    match frames {
        [one] => one.wire.clone(),
        many => {
            let mut wire = BytesMut::with_capacity(many.iter().map(|frame| frame.wire.len()).sum());
            for frame in many {
                wire.extend_from_slice(&frame.wire);
            }
            wire.freeze()
        }
    }
}

/// Members a hub offers its frames to in one turn of its task (about 0.3 ms
/// of writes on loopback). The hub yields between turns, so the worker's
/// other tasks and its sockets wait for one turn, not for a room's whole
/// delivery (`docs/performance.md`). Tests take one member a turn, so that
/// a few connections make a room of many turns.
const TURN: usize = if cfg!(test) { 1 } else { 64 };

/// A hub's turn at sweeping its room ([`Rooms::delivery_turn`]): the hub
/// holding the token sweeps the room, the others wait for it, first come
/// first served. Rooms of at most one [`TURN`] of members are swept
/// without it.
struct Sweeps {
    /// The room's token, and the hub's wait for it.
    token: RefCell<PollSemaphore>,
    /// The hub holds the token until its run's last member.
    held: RefCell<Option<OwnedSemaphorePermit>>,
}

impl Sweeps {
    fn new(token: Arc<Semaphore>) -> Self {
        Self {
            token: RefCell::new(PollSemaphore::new(token)),
            held: RefCell::new(None),
        }
    }

    /// Whether the hub holds the token, taking it if it is free; if not,
    /// `cx` is woken when it is the hub's.
    fn take(&self, cx: &mut Context<'_>) -> bool {
        if self.held.borrow().is_some() {
            return true;
        }
        match self.token.borrow_mut().poll_acquire(cx) {
            Poll::Ready(permit) => {
                // The token is never closed; were it, the hub sweeps alone.
                *self.held.borrow_mut() = permit;
                true
            }
            Poll::Pending => false,
        }
    }

    /// The run was offered to every member, or the hub stopped: the next
    /// hub may sweep. A hub still in the queue for the token (its room
    /// shrank to one turn while it waited) leaves it too, or it would be
    /// handed the token and keep it.
    fn release(&self) {
        drop(self.held.borrow_mut().take());
        let mut token = self.token.borrow_mut();
        *token = PollSemaphore::new(token.clone_inner());
    }
}

/// One worker's receiver of an auction room, and its watchers there.
pub struct Hub {
    key: HubKey,
    /// Frames a member may have handed over and unwritten.
    limit: usize,
    /// Taken when the last member leaves, which ends the hub's task.
    receiver: RefCell<Option<BroadcastStream<Frame>>>,
    /// In no order; a member that left stays until a delivery passes it.
    members: RefCell<Vec<Weak<Member>>>,
    /// Members that have not left.
    live: Cell<usize>,
    /// The frames being delivered.
    delivering: RefCell<Option<Run>>,
    /// Frames taken from the receiver and not yet delivered, in order;
    /// `None` where the receiver lagged.
    pending: RefCell<VecDeque<Option<Frame>>>,
    /// The hub's task.
    task: RefCell<Option<Waker>>,
    /// Its turn at sweeping the room.
    sweeps: Sweeps,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("room", &self.key.1)
            .field("members", &self.members.borrow().len())
            .finish_non_exhaustive()
    }
}

/// How a hub's task left a turn.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// Members are left to offer the frame to.
    Unfinished,
    /// The hub has stopped.
    Stopped,
}

/// A hub's room, and the rooms' hub it belongs to ([`Rooms::id`]).
type HubKey = (u64, RoomKey);

thread_local! {
    /// This worker's hubs.
    static HUBS: RefCell<HashMap<HubKey, Rc<Hub>>> = RefCell::new(HashMap::new());
}

impl Hub {
    /// This worker's hub of `room`, started (and subscribed) if it had none.
    fn of(rooms: &Rooms, room: RoomKey) -> Rc<Self> {
        let key = (rooms.id(), room);
        HUBS.with(|hubs| {
            Rc::clone(
                hubs.borrow_mut()
                    .entry(key)
                    .or_insert_with(|| Self::start(rooms, key)),
            )
        })
    }

    fn start(rooms: &Rooms, key: HubKey) -> Rc<Self> {
        let hub = Rc::new(Self {
            key,
            limit: rooms.capacity(),
            receiver: RefCell::new(Some(BroadcastStream::new(rooms.subscribe(key.1)))),
            members: RefCell::new(Vec::new()),
            live: Cell::new(0),
            delivering: RefCell::new(None),
            pending: RefCell::new(VecDeque::new()),
            task: RefCell::new(None),
            sweeps: Sweeps::new(rooms.delivery_turn(key.1)),
        });
        let task = Rc::clone(&hub);
        actix_web::rt::spawn(async move {
            // Between turns the hub yields to the worker's other work: the
            // tasks other threads woke (a bid's answer from the engine)
            // and its sockets' events. A waker woken at once would put the
            // hub back at the head of the worker's own queue, where those
            // wait for up to a whole room's delivery.
            while poll_fn(|cx| task.poll(cx)).await == Turn::Unfinished {
                tokio::task::yield_now().await;
            }
        });
        hub
    }

    /// Delivers what the room sends until a turn ends with members left to
    /// offer a frame to, the last member leaves or the room's lane closes.
    fn poll(&self, cx: &mut Context<'_>) -> Poll<Turn> {
        {
            let mut task = self.task.borrow_mut();
            if !task.as_ref().is_some_and(|held| held.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        loop {
            if let Some(run) = self.delivering.borrow_mut().as_mut() {
                // Whether the lane closed is seen once nothing is left.
                let _closed = self.pull(cx);
                run.absorb(&mut self.pending.borrow_mut());
            }
            if self.delivering.borrow().is_some()
                && self.members.borrow().len() > TURN
                && !self.sweeps.take(cx)
            {
                // Another worker sweeps the room: this hub's task is woken
                // with the token, or by the room's next frame.
                return Poll::Pending;
            }
            if !self.deliver_turn() {
                return Poll::Ready(Turn::Unfinished);
            }
            let next = {
                let mut pending = self.pending.borrow_mut();
                pending
                    .pop_front()
                    .map(|front| front.map(|frame| Run::starting(frame, &mut pending)))
            };
            match next {
                Some(Some(run)) => *self.delivering.borrow_mut() = Some(run),
                Some(None) => {
                    tracing::debug!(room = %self.key.1, "a worker's room lagged");
                    self.members.borrow_mut().retain(|member| {
                        let socket = member.upgrade().and_then(|member| member.socket.upgrade());
                        socket.inspect(|socket| socket.lagged(self.key.1)).is_some()
                    });
                }
                None => {
                    if self.pull(cx) {
                        self.stop();
                        return Poll::Ready(Turn::Stopped);
                    }
                    if self.pending.borrow().is_empty() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Takes what the room's lane has ready into `pending`, registering
    /// `cx`'s waker (always the hub task's) for more; true once the lane is
    /// closed or the hub stopped.
    fn pull(&self, cx: &mut Context<'_>) -> bool {
        let mut receiver = self.receiver.borrow_mut();
        let Some(stream) = receiver.as_mut() else {
            return true;
        };
        let mut pending = self.pending.borrow_mut();
        loop {
            match stream.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(frame))) => pending.push_back(Some(frame)),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => {
                    pending.push_back(None);
                }
                Poll::Ready(None) => return true,
                Poll::Pending => return false,
            }
        }
    }

    /// Offers the frames being delivered to the next [`TURN`] members;
    /// true once every member has had them (or none were being delivered).
    fn deliver_turn(&self) -> bool {
        let mut delivering = self.delivering.borrow_mut();
        let Some(Run {
            frames, wire, next, ..
        }) = delivering.as_mut()
        else {
            return true;
        };
        let mut members = self.members.borrow_mut();
        for _ in 0..TURN {
            let Some(member) = members.get(*next) else {
                break;
            };
            if member
                .upgrade()
                .is_some_and(|member| member.offer_run(self.key.1, frames, wire, self.limit))
            {
                *next += 1;
            } else {
                // The last member, not offered the frame yet, takes its place.
                members.swap_remove(*next);
            }
        }
        if *next < members.len() {
            return false;
        }
        if let Some(run) = delivering.take() {
            run.carry_over(&mut self.pending.borrow_mut());
        }
        self.sweeps.release();
        true
    }

    /// Drops the receiver and the hub's place in this worker's hubs.
    fn stop(&self) {
        drop(self.receiver.borrow_mut().take());
        self.sweeps.release();
        // None while the thread's locals are torn down: nothing is left to
        // remove then.
        let _gone = HUBS.try_with(|hubs| {
            let mut hubs = hubs.borrow_mut();
            if hubs
                .get(&self.key)
                .is_some_and(|hub| std::ptr::eq(Rc::as_ptr(hub), self))
            {
                hubs.remove(&self.key);
            }
        });
        if let Some(task) = self.task.borrow_mut().take() {
            task.wake();
        }
    }

    fn join(&self, member: &Rc<Member>) {
        let mut members = self.members.borrow_mut();
        // Those who left go now unless a delivery is part-way through.
        if members.len() >= 2 * self.live.get() && self.delivering.borrow().is_none() {
            members.retain(|held| held.strong_count() > 0);
        }
        members.push(Rc::downgrade(member));
        self.live.set(self.live.get() + 1);
    }

    fn leave(&self) {
        let live = self.live.get().saturating_sub(1);
        self.live.set(live);
        if live == 0 {
            self.stop();
        }
    }
}

/// A connection's place in its worker's hub of an auction room; dropping
/// it leaves the room, and the hub's receiver goes with the last member, so
/// drop it before the room's guard.
#[derive(Debug)]
pub struct Membership {
    hub: Rc<Hub>,
    member: Rc<Member>,
}

impl Membership {
    /// Joins `room` for `socket`, whose own receiver `own` was subscribed
    /// before the snapshot at `seen`: what `own` holds is handed over, the
    /// rest comes from the hub.
    #[must_use]
    pub fn join(
        rooms: &Rooms,
        room: RoomKey,
        mut own: broadcast::Receiver<Frame>,
        seen: u64,
        socket: &Rc<Socket>,
    ) -> Self {
        // Subscribed before `own` is drained: nothing published meanwhile
        // is missed by both.
        let hub = Hub::of(rooms, room);
        let member = Rc::new(Member {
            last: Cell::new(seen),
            socket: Rc::downgrade(socket),
        });
        loop {
            match own.try_recv() {
                Ok(frame) => {
                    member.offer(room, &frame, hub.limit);
                }
                Err(TryRecvError::Lagged(_)) => socket.lagged(room),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        hub.join(&member);
        Self { hub, member }
    }

    /// Takes the frames the room has published and the hub has not yet
    /// offered this connection, before the connection writes something of
    /// its own: they leave in the same write. A bidder's answer and the
    /// room's latest frame, published as the answer was sent, would
    /// otherwise take two writes when the hub reaches the connection after
    /// its answer went out. The hub skips what was taken here.
    pub fn catch_up(&self) {
        let hub = &self.hub;
        // The hub task's own waker: its next poll delivers to the others.
        // Before its first poll there is none, and that poll registers it.
        let waker = hub
            .task
            .borrow()
            .clone()
            .unwrap_or_else(|| Waker::noop().clone());
        if hub.pull(&mut Context::from_waker(&waker)) {
            waker.wake();
            return;
        }
        let delivering = hub.delivering.borrow();
        let pending = hub.pending.borrow();
        let frames = delivering
            .iter()
            .flat_map(|run| &run.frames)
            .chain(pending.iter().map_while(Option::as_ref));
        for frame in frames {
            // Only a frame with a seq is skipped later by the hub.
            if frame.seq.is_none() {
                break;
            }
            self.member.offer(hub.key.1, frame, hub.limit);
        }
        if !pending.is_empty() {
            waker.wake();
        }
    }

    /// The connection was sent a fresh snapshot at `seq`: frames up to it
    /// are skipped.
    pub fn resynced(&self, seq: u64) {
        self.member.last.set(self.member.last.get().max(seq));
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave();
    }
}

/// How many hubs this worker runs (for tests).
#[cfg(test)]
pub(crate) fn hubs_here() -> usize {
    HUBS.with(|hubs| hubs.borrow().len())
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use actix_http::body::{BodyStream, BoxBody};
    use blytz_actors::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};
    use blytz_actors::ports::{InMemoryJournal, SystemClock};
    use blytz_actors::rules::{Bid, Command, NewAuction};
    use blytz_actors::{Engine, EngineSettings};
    use serde_json::{Value, json};
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{oneshot, watch};

    use super::*;
    use crate::ws::queue;
    use crate::ws::upgrade::Pump;
    use crate::ws::writer::{Forward, Outgoing, Writer};

    /// A live auction on an engine whose actors run on this thread, its
    /// rooms holding `room_capacity` frames per receiver.
    pub(in crate::ws) async fn live_auction(room_capacity: usize) -> (Engine, AuctionId) {
        let settings = EngineSettings {
            arbiters: 0,
            writer_thread: false,
            room_capacity,
            ..EngineSettings::default()
        };
        let engine = Engine::start(
            Arc::new(InMemoryJournal::new()),
            Arc::new(SystemClock),
            settings,
        );
        let seller = UserId::new();
        let new = NewAuction::new(ProductId::new(), Currency::USD, 100, 600_000);
        let auction = engine.create_auction(seller, new).await.unwrap().id;
        engine
            .execute(auction, Caller::new(seller, Role::Seller), Command::Start)
            .await
            .unwrap();
        (engine, auction)
    }

    /// One accepted bid at the auction's minimum.
    async fn bid(engine: &Engine, auction: AuctionId) {
        let amount = engine.view(auction).await.unwrap().min_next_bid;
        let bid = Command::Bid(Bid {
            amount,
            max_amount: None,
            request_id: None,
        });
        engine
            .execute(auction, Caller::new(UserId::new(), Role::Buyer), bid)
            .await
            .unwrap();
    }

    /// A connection as the switch leaves it: its writer pumped to a real
    /// socket on this worker. Gives the session's end of the writer's queue,
    /// the client's socket and the pump's task.
    struct Connection {
        out: Rc<queue::Sender<Outgoing>>,
        socket: Rc<Socket>,
        client: TcpStream,
        pump: actix_web::rt::task::JoinHandle<()>,
        _closing: watch::Sender<bool>,
        _reader: oneshot::Receiver<()>,
        _session: oneshot::Sender<()>,
    }

    async fn connect(engine: &Engine) -> Connection {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        let (out, commands) = queue::queue(16);
        let (closing_tx, closing) = watch::channel(false);
        let (alive, reader) = oneshot::channel();
        let (session, session_over) = oneshot::channel();
        let writer = Writer::new(commands, engine.clone(), closing, alive);
        let socket = writer.socket();
        socket.attach(write);
        let body = BoxBody::new(BodyStream::new(writer));
        let pump = Pump::new(Rc::clone(&socket), Bytes::new(), body, session_over);
        Connection {
            out: Rc::new(out),
            socket,
            client,
            pump: actix_web::rt::spawn(pump),
            _closing: closing_tx,
            _reader: reader,
            _session: session,
        }
    }

    /// A connection subscribed to the auction's room with nothing left to
    /// write, and its snapshot's seq.
    async fn watcher(engine: &Engine, auction: AuctionId) -> (Connection, u64) {
        let mut watcher = connect(engine).await;
        let seen = watcher.subscribe(engine, auction, async {}, |_| {}).await;
        watcher.quiet().await;
        (watcher, seen)
    }

    impl Connection {
        /// Subscribes to `room` as a session does: its own receiver first,
        /// then the snapshot's seq, which `between` may let fall behind;
        /// `joined` runs as the join is queued for the writer.
        async fn subscribe<F: Future<Output = ()>>(
            &mut self,
            engine: &Engine,
            auction: AuctionId,
            between: F,
            joined: impl FnOnce(u64),
        ) -> u64 {
            let room = RoomKey::Auction(auction);
            let lanes = engine.rooms().join(room);
            let seen = engine.view(auction).await.unwrap().seq;
            between.await;
            let join = Forward {
                room,
                lanes,
                reply: json!({"type": "subscribed", "seq": seen}).to_string(),
                snapshot_seq: Some(seen),
            };
            self.out.try_send(Outgoing::Join(Box::new(join))).unwrap();
            joined(seen);
            let subscribed = self.next().await;
            assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
            seen
        }

        /// The next text frame the client reads (a server's are unmasked).
        async fn next(&mut self) -> Value {
            let read = async {
                let mut head = [0u8; 2];
                self.client.read_exact(&mut head).await.unwrap();
                assert_eq!(head[0], 0x81, "a final text frame");
                let len = match head[1] {
                    126 => {
                        let mut len = [0u8; 2];
                        self.client.read_exact(&mut len).await.unwrap();
                        usize::from(u16::from_be_bytes(len))
                    }
                    short => usize::from(short),
                };
                let mut payload = vec![0u8; len];
                self.client.read_exact(&mut payload).await.unwrap();
                serde_json::from_slice(&payload).unwrap()
            };
            tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .expect("a frame within 5 s")
        }

        /// Nothing more arrives for a while.
        async fn quiet(&mut self) {
            let mut byte = [0u8; 1];
            let more =
                tokio::time::timeout(Duration::from_millis(100), self.client.read(&mut byte)).await;
            assert!(more.is_err(), "nothing more is written");
        }

        async fn close(self) {
            self.out.try_send(Outgoing::Close(None)).unwrap();
            self.pump.await.unwrap();
        }
    }

    /// An `auction.bid` frame at `seq`, published as the auction would.
    fn publish(engine: &Engine, auction: AuctionId, seq: u64) {
        let json = json!({"type": "auction.bid", "seq": seq}).to_string();
        engine.rooms().publish(
            RoomKey::Auction(auction),
            Frame::new(Some(seq), json.into()),
        );
    }

    fn seq_of(frame: &Value) -> u64 {
        frame["seq"].as_u64().unwrap_or_else(|| panic!("{frame}"))
    }

    #[actix_web::test]
    async fn watchers_of_a_worker_share_one_receiver_and_each_frame_arrives_once_in_order() {
        let (engine, auction) = live_auction(256).await;
        let room = RoomKey::Auction(auction);

        // Ann's snapshot falls two bids behind before her join: those two
        // come from her own receiver, the rest from the worker's hub.
        let mut ann = connect(&engine).await;
        let both_bids = async {
            bid(&engine, auction).await;
            bid(&engine, auction).await;
        };
        let seen = ann.subscribe(&engine, auction, both_bids, |_| {}).await;
        assert_eq!(hubs_here(), 1);
        for expected in seen + 1..=seen + 2 {
            assert_eq!(seq_of(&ann.next().await), expected);
        }

        // Bob joins while the hub runs, and a frame is published as his
        // join is queued: his writer takes it from his own receiver before
        // the hub offers it to him, and it is written once. (The frames
        // from here on stand for the auction's next ones.)
        let mut bob = connect(&engine).await;
        let bob_seen = bob
            .subscribe(&engine, auction, async {}, |seen| {
                publish(&engine, auction, seen + 1);
            })
            .await;
        assert_eq!(bob_seen, seen + 2);
        assert_eq!(seq_of(&bob.next().await), seen + 3);
        assert_eq!(seq_of(&ann.next().await), seen + 3);
        assert_eq!(hubs_here(), 1, "one hub for the worker's room");

        for seq in seen + 4..=seen + 6 {
            publish(&engine, auction, seq);
        }
        for expected in seen + 4..=seen + 6 {
            assert_eq!(seq_of(&ann.next().await), expected);
            assert_eq!(seq_of(&bob.next().await), expected);
        }
        ann.quiet().await;
        bob.quiet().await;

        // The last to go takes the hub, and its receiver, with it.
        ann.close().await;
        assert_eq!(hubs_here(), 1);
        publish(&engine, auction, seen + 7);
        assert_eq!(seq_of(&bob.next().await), seen + 7);
        bob.close().await;
        assert_eq!(hubs_here(), 0);
        assert_eq!(engine.rooms().subscriber_count(room), 0);
    }

    #[actix_web::test]
    async fn an_answer_queued_before_a_frame_is_published_leaves_first() {
        let (engine, auction) = live_auction(256).await;
        let room = RoomKey::Auction(auction);
        let (mut ann, seen) = watcher(&engine, auction).await;

        // As a bid's answer reaches a session: the answer is sent to the
        // session's task, then the frame published; the session queues the
        // answer for the writer when it runs, which wakes the connection's
        // task after the hub's.
        let out = Rc::clone(&ann.out);
        let session = actix_web::rt::spawn(async move {
            out.try_send(Outgoing::Text(json!({"type": "answer"}).to_string()))
                .unwrap();
        });
        let frame = Frame::new(
            Some(seen + 1),
            Bytes::from(json!({"type": "auction.bid", "seq": seen + 1}).to_string()),
        );
        engine.rooms().publish(room, frame);
        session.await.unwrap();
        assert_eq!(ann.next().await["type"], "answer");
        assert_eq!(seq_of(&ann.next().await), seen + 1);
        ann.close().await;
    }

    #[actix_web::test]
    async fn answers_from_other_threads_leave_between_the_turns_of_a_large_rooms_frame() {
        const WATCHERS: usize = 64;
        const ANSWERS: usize = 4;
        let (engine, auction) = live_auction(256).await;
        let mut watchers = Vec::new();
        let mut seen = 0;
        for _ in 0..WATCHERS {
            let mut watcher = connect(&engine).await;
            seen = watcher.subscribe(&engine, auction, async {}, |_| {}).await;
            watchers.push(watcher);
        }
        let hub = Hub::of(engine.rooms(), RoomKey::Auction(auction));
        let seq = seen + 1;

        // Answers on their way from the engine's thread: tasks of this
        // worker that another thread wakes while the hub delivers a frame
        // to 64 members, one a turn. Each sees how many members had it.
        let (answers, answered): (Vec<_>, Vec<_>) =
            (0..ANSWERS).map(|_| oneshot::channel::<()>()).unzip();
        let sessions: Vec<_> = answered
            .into_iter()
            .map(|answer| {
                let hub = Rc::clone(&hub);
                actix_web::rt::spawn(async move {
                    answer.await.unwrap();
                    let members = hub.members.borrow();
                    members
                        .iter()
                        .filter_map(Weak::upgrade)
                        .filter(|member| member.last.get() >= seq)
                        .count()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        publish(&engine, auction, seq);
        std::thread::spawn(move || {
            for answer in answers {
                answer.send(()).unwrap();
            }
        })
        .join()
        .unwrap();

        for session in sessions {
            let offered = session.await.unwrap();
            assert!(
                offered <= 2 * TURN,
                "an answer waited for {offered} of {WATCHERS} members to be offered the frame"
            );
        }
        for watcher in &mut watchers {
            assert_eq!(seq_of(&watcher.next().await), seq);
        }
        for watcher in watchers {
            watcher.close().await;
        }
    }

    #[actix_web::test]
    async fn frames_a_hub_holds_go_out_together_and_each_member_gets_the_ones_it_lacks() {
        let (engine, auction) = live_auction(256).await;
        let room = RoomKey::Auction(auction);
        let (mut ann, seen) = watcher(&engine, auction).await;
        let frame = |seq: Option<u64>| {
            let json = json!({"type": "auction.bid", "seq": seq}).to_string();
            Frame::new(seq, json.into())
        };

        // A run takes the frames with a seq that follow its first, up to a
        // lag or a frame without one.
        let mut pending = VecDeque::from([
            Some(frame(Some(seen + 2))),
            Some(frame(Some(seen + 3))),
            None,
            Some(frame(Some(seen + 4))),
        ]);
        let run = Run::starting(frame(Some(seen + 1)), &mut pending);
        let seqs: Vec<_> = run.frames.iter().map(|frame| frame.seq).collect();
        assert_eq!(seqs, [Some(seen + 1), Some(seen + 2), Some(seen + 3)]);
        assert_eq!(pending.len(), 2);
        let whole: Vec<u8> = run
            .frames
            .iter()
            .flat_map(|frame| frame.wire.to_vec())
            .collect();
        assert_eq!(run.wire, whole);
        let alone = Run::starting(frame(None), &mut pending);
        assert_eq!(alone.frames.len(), 1);
        assert_eq!(pending.len(), 2);

        // Ann already had the first (her own receiver gave it): the other
        // two are written at once, in one write.
        let member = Member {
            last: Cell::new(seen + 1),
            socket: Rc::downgrade(&ann.socket),
        };
        assert!(member.offer_run(room, &run.frames, &run.wire, 256));
        assert_eq!(member.last.get(), seen + 3);
        assert!(ann.socket.out.borrow().is_empty(), "the socket took it all");
        assert!(
            ann.socket.handed.borrow().is_empty(),
            "nothing for the writer"
        );
        assert_eq!(seq_of(&ann.next().await), seen + 2);
        assert_eq!(seq_of(&ann.next().await), seen + 3);
        ann.quiet().await;

        // Offered again, the run has nothing she lacks.
        assert!(member.offer_run(room, &run.frames, &run.wire, 256));
        ann.quiet().await;
        ann.close().await;
    }

    #[actix_web::test]
    async fn a_frame_published_during_a_run_joins_it_and_reaches_the_members_it_passed_after() {
        let (engine, auction) = live_auction(256).await;
        let mut watchers = Vec::new();
        let mut seen = 0;
        for _ in 0..3 {
            let (watcher, subscribed) = watcher(&engine, auction).await;
            seen = subscribed;
            watchers.push(watcher);
        }
        let hub = Hub::of(engine.rooms(), RoomKey::Auction(auction));
        let progress = || {
            let delivering = hub.delivering.borrow();
            let seqs = |frames: &[Frame]| -> Vec<u64> {
                frames.iter().filter_map(|frame| frame.seq).collect()
            };
            delivering
                .as_ref()
                .map(|run| (seqs(&run.frames), run.next, seqs(&run.carried)))
        };

        // The hub offers the first frame to one member a turn.
        publish(&engine, auction, seen + 1);
        tokio::task::yield_now().await;
        assert_eq!(progress(), Some((vec![seen + 1], 1, vec![])));

        // The second joins the run after the first member: the other two
        // get both in one write, the first gets it with the next run.
        publish(&engine, auction, seen + 2);
        tokio::task::yield_now().await;
        assert_eq!(
            progress(),
            Some((vec![seen + 1, seen + 2], 2, vec![seen + 2]))
        );
        for watcher in &mut watchers {
            assert_eq!(seq_of(&watcher.next().await), seen + 1);
            assert_eq!(seq_of(&watcher.next().await), seen + 2);
        }
        for mut watcher in watchers {
            watcher.quiet().await;
            watcher.close().await;
        }
    }

    #[actix_web::test]
    async fn a_room_larger_than_a_turn_is_swept_by_one_workers_hub_at_a_time() {
        let (engine, auction) = live_auction(256).await;
        let room = RoomKey::Auction(auction);
        let (mut ann, seen) = watcher(&engine, auction).await;
        // Another worker's hub of the room, sweeping it.
        let other = Sweeps::new(engine.rooms().delivery_turn(room));
        assert!(other.take(&mut Context::from_waker(Waker::noop())));

        // One member is one turn: her frame goes out without the token.
        publish(&engine, auction, seen + 1);
        assert_eq!(seq_of(&ann.next().await), seen + 1);

        // Two are more than a turn (of one, in tests): the frames wait
        // until the other hub is done, then leave together.
        let (mut bob, _) = watcher(&engine, auction).await;
        publish(&engine, auction, seen + 2);
        publish(&engine, auction, seen + 3);
        ann.quiet().await;
        bob.quiet().await;
        other.release();
        for watcher in [&mut ann, &mut bob] {
            assert_eq!(seq_of(&watcher.next().await), seen + 2);
            assert_eq!(seq_of(&watcher.next().await), seen + 3);
        }

        // Done with its run, this worker's hub has let the token go.
        assert!(other.take(&mut Context::from_waker(Waker::noop())));
        other.release();
        ann.close().await;
        bob.close().await;

        // The room's token goes with the room.
        assert_eq!(hubs_here(), 0);
        assert_eq!(engine.rooms().subscriber_count(room), 0);
        assert!(!Arc::ptr_eq(
            &engine.rooms().delivery_turn(room),
            &other.token.borrow().clone_inner()
        ));
    }

    #[actix_web::test]
    async fn a_frame_waits_for_the_answer_to_a_bid_in_flight_and_leaves_with_it() {
        let (engine, auction) = live_auction(256).await;
        let (mut ann, seen) = watcher(&engine, auction).await;

        // Ann's bid is in flight when another's is published: the frame
        // waits for her answer rather than taking a write of its own.
        ann.socket.request_begun();
        publish(&engine, auction, seen + 1);
        ann.quiet().await;
        ann.socket.request_ended();
        ann.out
            .try_send(Outgoing::Text(json!({"type": "answer"}).to_string()))
            .unwrap();
        assert_eq!(ann.next().await["type"], "answer");
        assert_eq!(seq_of(&ann.next().await), seen + 1);

        // With no bid in flight, the next frame goes at once.
        publish(&engine, auction, seen + 2);
        assert_eq!(seq_of(&ann.next().await), seen + 2);
        ann.close().await;
    }
}

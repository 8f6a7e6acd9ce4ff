//! The lanes of a connection's writer: streams polled only after they woke.
//!
//! The writer waits on several sources at once: the node stopping, the
//! rooms' auction frames, the rooms' chat. A plain poll of all of them on
//! every wake-up polls each room's broadcast receivers again each time a
//! reply or a frame goes out, and every such poll takes the channel's lock,
//! which every other watcher of the room takes too. Each lane hands its
//! stream a waker of its own that marks the lane woken before waking the
//! writer, so the writer polls a lane only when something may have arrived
//! on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// What the lanes' wakers share with the writer.
#[derive(Debug)]
struct Shared<const N: usize> {
    /// The writer's task, woken after a lane's flag is set.
    task: AtomicWaker,
    /// Per lane: set when its stream woke (or may have something); cleared
    /// by a poll.
    woken: [AtomicBool; N],
}

/// The waker a lane's stream holds.
#[derive(Debug)]
struct LaneWaker<const N: usize> {
    shared: Arc<Shared<N>>,
    lane: usize,
}

impl<const N: usize> Wake for LaneWaker<N> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(woken) = self.shared.woken.get(self.lane) {
            woken.store(true, Ordering::Release);
        }
        self.shared.task.wake();
    }
}

/// `N` lanes, numbered from 0, each polled only when its own waker fired
/// since it last said `Pending`.
#[derive(Debug)]
pub struct Lanes<const N: usize> {
    shared: Arc<Shared<N>>,
    wakers: [Waker; N],
}

impl<const N: usize> Default for Lanes<N> {
    /// Lanes that each poll their stream the first time they are asked.
    fn default() -> Self {
        let shared = Arc::new(Shared {
            task: AtomicWaker::new(),
            woken: std::array::from_fn(|_| AtomicBool::new(true)),
        });
        let wakers = std::array::from_fn(|lane| {
            Waker::from(Arc::new(LaneWaker {
                shared: Arc::clone(&shared),
                lane,
            }))
        });
        Self { shared, wakers }
    }
}

impl<const N: usize> Lanes<N> {
    /// Makes `cx`'s task the one a lane's wake wakes. Called once per poll
    /// of the writer, before any [`Lanes::poll`] in it: a wake after this
    /// sets its lane's flag after the poll read it, and wakes the task,
    /// which polls again.
    pub fn register(&self, cx: &Context<'_>) {
        self.shared.task.register(cx.waker());
    }

    /// Lane `lane`'s stream changed (one was added): poll it next time.
    pub fn touch(&self, lane: usize) {
        if let Some(woken) = self.shared.woken.get(lane) {
            woken.store(true, Ordering::Release);
        }
    }

    /// Polls lane `lane` with `poll` under the lane's own waker if it woke
    /// since its last `Pending`; else `Pending` at once.
    pub fn poll<T>(&self, lane: usize, poll: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        let (Some(woken), Some(waker)) = (self.shared.woken.get(lane), self.wakers.get(lane))
        else {
            return Poll::Pending;
        };
        if !woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let ready = poll(&mut Context::from_waker(waker));
        if ready.is_ready() {
            // A stream that gave an item registered no waker: it may well
            // have more, so it is polled again next time.
            woken.store(true, Ordering::Release);
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A task waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_lane_is_polled_again_only_after_its_stream_wakes_it() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(Arc::clone(&count));
        let cx = Context::from_waker(&task);
        let lanes = Lanes::<2>::default();
        let held: RefCell<Option<Waker>> = RefCell::new(None);
        let polls = AtomicUsize::new(0);
        let pending = |inner: &mut Context<'_>| {
            polls.fetch_add(1, Ordering::SeqCst);
            *held.borrow_mut() = Some(inner.waker().clone());
            Poll::<()>::Pending
        };
        let turn = |lane| {
            lanes.register(&cx);
            lanes.poll(lane, pending)
        };

        // The first turn polls; the next do not, until the stream wakes.
        assert!(turn(0).is_pending());
        assert!(turn(0).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        held.borrow_mut().take().unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task is woken");
        assert!(turn(0).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 2);

        // Another lane's wake leaves this one alone.
        assert!(turn(1).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        held.borrow_mut().take().unwrap().wake();
        assert!(turn(0).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        assert!(turn(1).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 4);

        // An item means the stream is polled on the next turn as well.
        held.borrow_mut().take().unwrap().wake();
        lanes.register(&cx);
        assert!(lanes.poll(1, |_| Poll::Ready(7)).is_ready());
        assert!(turn(1).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 5);

        // A new stream is polled on the next turn.
        lanes.touch(0);
        assert!(turn(0).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 6);
    }
}

//! The bounded queue from a connection's session to its writer.
//!
//! Both ends live on the connection's worker thread (the session actor is
//! started by the request's handler, the writer is polled by the
//! connection's pump on the same worker), so the queue needs no atomics: it is one
//! shared cell, and its buffer is allocated only while something waits in
//! it. An idle connection costs a few dozen bytes here, where a thread-safe
//! channel allocates its first block of slots and a padded header up front
//! (about 2 KiB a connection with tokio's `mpsc`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Shared<T> {
    items: VecDeque<T>,
    capacity: usize,
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// A queue of at most `capacity` items.
pub fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(Shared {
        items: VecDeque::new(),
        capacity,
        waker: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (Sender(Rc::clone(&shared)), Receiver(shared))
}

/// The session's end.
pub struct Sender<T>(Rc<RefCell<Shared<T>>>);

impl<T> Sender<T> {
    /// Queues `item`; gives it back when the queue is full or the receiver
    /// is gone.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        let mut shared = self.0.borrow_mut();
        if !shared.receiver_alive || shared.items.len() >= shared.capacity {
            return Err(item);
        }
        shared.items.push_back(item);
        if let Some(waker) = shared.waker.take() {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut shared = self.0.borrow_mut();
        shared.sender_alive = false;
        if let Some(waker) = shared.waker.take() {
            waker.wake();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.0.borrow().items.len())
            .finish()
    }
}

/// The writer's end.
pub struct Receiver<T>(Rc<RefCell<Shared<T>>>);

impl<T: 'static> Receiver<T> {
    /// A look at whether anything waits in the queue, for code that holds
    /// neither end.
    #[must_use]
    pub fn probe(&self) -> Probe {
        Probe(Rc::clone(&self.0) as Rc<dyn Holds>)
    }
}

impl<T> Receiver<T> {
    /// The next item; `None` once the queue is empty and the sender gone.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut shared = self.0.borrow_mut();
        if let Some(item) = shared.items.pop_front() {
            if shared.items.is_empty() {
                // Nothing waits: give the buffer back.
                shared.items = VecDeque::new();
            }
            return Poll::Ready(Some(item));
        }
        if !shared.sender_alive {
            return Poll::Ready(None);
        }
        match &mut shared.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut shared = self.0.borrow_mut();
        shared.receiver_alive = false;
        shared.items.clear();
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.0.borrow().items.len())
            .finish()
    }
}

/// Whether a queue holds anything, whatever its items.
trait Holds {
    fn holds_any(&self) -> bool;
}

impl<T> Holds for RefCell<Shared<T>> {
    fn holds_any(&self) -> bool {
        !self.borrow().items.is_empty()
    }
}

/// Whether anything waits in a queue ([`Receiver::probe`]).
#[derive(Clone)]
pub struct Probe(Rc<dyn Holds>);

impl Probe {
    /// Nothing waits in the queue.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.0.holds_any()
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("empty", &self.is_empty())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    #[actix_web::test]
    async fn items_come_out_in_order_and_a_full_queue_refuses() {
        let (tx, mut rx) = queue(2);
        let probe = rx.probe();
        assert!(probe.is_empty());
        assert_eq!(tx.try_send(1), Ok(()));
        assert!(!probe.is_empty(), "the probe sees what waits");
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(3), "full");
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some(1));
        assert_eq!(tx.try_send(4), Ok(()), "room again");
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some(2));
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some(4));
        assert_eq!(
            rx.0.borrow().items.capacity(),
            0,
            "an empty queue holds no buffer"
        );
    }

    #[actix_web::test]
    async fn a_waiting_receiver_is_woken_by_a_send_and_by_the_sender_going() {
        let (tx, mut rx) = queue::<u32>(4);
        let waiting = actix_web::rt::spawn(async move {
            let first = poll_fn(|cx| rx.poll_recv(cx)).await;
            let second = poll_fn(|cx| rx.poll_recv(cx)).await;
            (first, second)
        });
        actix_web::rt::task::yield_now().await;
        tx.try_send(7).unwrap();
        actix_web::rt::task::yield_now().await;
        drop(tx);
        assert_eq!(waiting.await.unwrap(), (Some(7), None));
    }

    #[actix_web::test]
    async fn a_sender_without_a_receiver_gets_its_item_back() {
        let (tx, rx) = queue(4);
        drop(rx);
        assert_eq!(tx.try_send("late"), Err("late"));
    }
}

//! An answer sent on the caller's own reply channel the moment it is durable.
//!
//! Actix's `ResponseFuture` would spawn a task for each answer, awaiting a
//! second channel that `release` completes; the task ran on a later turn of
//! the auction's thread, after `release` had already published the batch's
//! frames, so a bidder's acknowledgement always reached its socket after
//! its own `auction.bid` frame, in a write of its own. [`Durable`] instead
//! hands actix's reply sender to the waiting reply: `release` answers the
//! caller itself, before it publishes.

use std::cell::RefCell;
use std::rc::Rc;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;

use super::AuctionActor;
use crate::AuctionError;

type Answered<T> = Result<T, AuctionError>;

/// The response of a handler whose answer waits for the journal.
pub struct Durable<T>(Rc<RefCell<Slot<T>>>);

/// Whichever of the answer and the caller's sender came first.
enum Slot<T> {
    Empty,
    Answer(Answered<T>),
    Caller(OneshotSender<Answered<T>>),
    Done,
}

impl<T> std::fmt::Debug for Durable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never while the slot is being filled, but a `Debug` must not panic.
        let state = match self.0.try_borrow().as_deref() {
            Ok(Slot::Empty) => "empty",
            Ok(Slot::Answer(_)) => "answered",
            Ok(Slot::Caller(_)) => "waiting",
            Ok(Slot::Done) => "done",
            Err(_) => "being filled",
        };
        write!(f, "Durable({state})")
    }
}

impl<T> Durable<T> {
    /// A response and the function that completes it.
    pub(super) fn pending() -> (Self, impl FnOnce(Answered<T>)) {
        let slot = Rc::new(RefCell::new(Slot::Empty));
        let fill = {
            let slot = Rc::clone(&slot);
            move |answer| {
                let mut slot = slot.borrow_mut();
                *slot = match std::mem::replace(&mut *slot, Slot::Done) {
                    Slot::Empty => Slot::Answer(answer),
                    Slot::Caller(caller) => {
                        // The caller may have gone away; nothing to do then.
                        let _ = caller.send(answer);
                        Slot::Done
                    }
                    Slot::Answer(_) | Slot::Done => Slot::Done,
                };
            }
        };
        (Self(slot), fill)
    }
}

impl<M, T> MessageResponse<AuctionActor, M> for Durable<T>
where
    M: Message<Result = Answered<T>>,
    T: 'static,
{
    fn handle(self, _: &mut Context<AuctionActor>, caller: Option<OneshotSender<Answered<T>>>) {
        let mut slot = self.0.borrow_mut();
        *slot = match (std::mem::replace(&mut *slot, Slot::Done), caller) {
            (Slot::Empty, Some(caller)) => Slot::Caller(caller),
            (Slot::Answer(answer), Some(caller)) => {
                let _ = caller.send(answer);
                Slot::Done
            }
            // Sent without asking for an answer, or answered already.
            _ => Slot::Done,
        };
    }
}

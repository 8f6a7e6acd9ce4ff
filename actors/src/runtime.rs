//! Futures that hold a database connection and may be dropped by a
//! stopping arbiter.
//!
//! An arbiter that stops ([`crate::Engine::stop`]) drops its unfinished
//! tasks after its tokio runtime has left the thread. A pooled sqlx
//! connection dropped there returns itself to its pool with a spawned task,
//! finds no runtime and panics, and a panic while the thread unwinds aborts
//! the process. [`in_runtime`] drops such a future inside the runtime it was
//! made in.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Handle;

/// `future`, dropped (if it is dropped unfinished) inside the current
/// runtime.
pub fn in_runtime<F: Future>(future: F) -> InRuntime<F> {
    InRuntime {
        future: Some(Box::pin(future)),
        runtime: Handle::try_current().ok(),
    }
}

/// See [`in_runtime`].
#[derive(Debug)]
pub struct InRuntime<F> {
    future: Option<Pin<Box<F>>>,
    runtime: Option<Handle>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.future.as_mut() {
            Some(future) => {
                let output = std::task::ready!(future.as_mut().poll(cx));
                self.future = None;
                Poll::Ready(output)
            }
            // Polled again after it finished: it stays finished.
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for InRuntime<F> {
    fn drop(&mut self) {
        let _entered = self.runtime.as_ref().map(Handle::enter);
        self.future = None;
    }
}

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

/// Spawns `future` on the current arbiter (as [`actix::spawn`]): a task
/// that may hold a database call when its arbiter stops. It is dropped
/// inside the runtime (see [`in_runtime`]).
pub fn spawn<F: Future + 'static>(future: F) {
    actix::spawn(in_runtime(future));
}

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Notes where it is dropped: 1 inside a tokio runtime, 2 outside one
    /// (where a pooled database connection would panic).
    struct Probe(Arc<AtomicU8>);

    impl Drop for Probe {
        fn drop(&mut self) {
            let inside = tokio::runtime::Handle::try_current().is_ok();
            self.0.store(if inside { 1 } else { 2 }, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_task_cut_by_its_runtime_ending_is_dropped_inside_that_runtime() {
        let seen = Arc::new(AtomicU8::new(0));
        let probe = Probe(Arc::clone(&seen));
        let system = actix::System::new();
        system.block_on(async move {
            super::spawn(async move {
                let _held_across_a_call = probe;
                std::future::pending::<()>().await;
            });
            // Let the task start and stop at its "database call".
            tokio::task::yield_now().await;
        });
        assert_eq!(seen.load(Ordering::SeqCst), 0, "still running");
        drop(system);
        assert_eq!(seen.load(Ordering::SeqCst), 1, "dropped inside the runtime");
    }
}

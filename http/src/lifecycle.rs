//! Stopping well: on SIGTERM (or SIGINT) a node first answers `/ready` with
//! 503 so a balancer sends it nothing new, hands its shards over in a
//! cluster (after the commits in flight), closes its WebSockets with code
//! 1012 (service restart: clients reconnect through another node and
//! resubscribe), and only then stops serving HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use tokio::sync::watch;

use crate::state::AppState;

/// Whether the node is stopping, shared by `/ready` and every WebSocket.
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    close_sockets: watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            close_sockets: watch::channel(false).0,
        }
    }
}

impl Lifecycle {
    /// Whether the node has begun to stop (`/ready` answers 503).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Turns true when every WebSocket should close with code 1012.
    pub fn sockets_closing(&self) -> watch::Receiver<bool> {
        self.close_sockets.subscribe()
    }

    fn begin(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn close_sockets(&self) {
        self.close_sockets.send_replace(true);
    }
}

/// Waits for SIGTERM or SIGINT, then stops the node in order (see the
/// module documentation) and the server with it.
pub async fn stop_on_signal(state: AppState, server: ServerHandle) {
    wait_for_signal().await;
    tracing::info!("stopping: /ready answers 503 from now on");
    let lifecycle = Arc::clone(&state.lifecycle);
    lifecycle.begin();
    if let Some(leases) = &state.cluster {
        match leases.drain().await {
            Ok(()) => {
                // The others claim the shards at their next round; a command
                // that arrives meanwhile is forwarded and waits for them.
                tokio::time::sleep(leases.settings().renew_every * 2).await;
                tracing::info!("stopping: every shard handed over");
            }
            Err(error) => {
                tracing::warn!(%error, "handing shards over failed; their leases run out instead");
            }
        }
    }
    lifecycle.close_sockets();
    // Let the writers send their close frames.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop(true).await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::warn!("cannot listen for signals; stop the server with its handle");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

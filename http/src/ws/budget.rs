//! What one client may make the server hold or do through WebSockets.
//!
//! - connections per client IP (`BLYTZ_WS_CONNECTIONS_PER_IP`), counted by a
//!   [`ConnectionPermit`] each session holds;
//! - rooms, requests in flight and messages a second per connection (the
//!   session checks them with the [`WsSettings`] here);
//! - database look-ups of WebSocket requests, across all connections
//!   (`BLYTZ_WS_LOOKUPS`): a flood of subscribes to rooms that are not in
//!   memory waits for these permits and never takes the pool's connections
//!   from other requests;
//! - show snapshots, kept for [`SHOW_SNAPSHOT_TTL`]: the thousands who join
//!   a popular show at once cost one database read a second, not one each.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blytz::{Code, Config, Error};
use blytz_actors::domain::ShowId;
use blytz_actors::view::AuctionView;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::Semaphore;

/// How long a show's snapshot is served from memory.
pub const SHOW_SNAPSHOT_TTL: Duration = Duration::from_secs(1);
/// Show snapshots kept at most.
const MAX_CACHED_SHOWS: usize = 1024;

/// The per-connection limits (0 = no limit, or off for rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsSettings {
    /// Open connections per client IP.
    pub connections_per_ip: u32,
    /// Rooms one connection may be in.
    pub rooms_per_connection: u32,
    /// Requests of one connection being answered at once.
    pub in_flight_per_connection: u32,
    /// Messages a second per connection, sustained.
    pub messages_per_sec: u32,
    /// Messages per connection in a burst.
    pub message_burst: u32,
}

impl WsSettings {
    /// The settings in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            connections_per_ip: config.ws_connections_per_ip,
            rooms_per_connection: config.ws_rooms_per_connection,
            in_flight_per_connection: config.ws_in_flight_per_connection,
            messages_per_sec: config.ws_messages_per_sec,
            message_burst: config.ws_message_burst,
        }
    }
}

struct CachedShow {
    at: Instant,
    auctions: Arc<Vec<AuctionView>>,
}

/// The shared WebSocket budget of the server.
pub struct WsBudget {
    settings: WsSettings,
    connections: DashMap<IpAddr, u32>,
    lookups: Semaphore,
    shows: DashMap<ShowId, CachedShow>,
}

impl std::fmt::Debug for WsBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsBudget")
            .field("settings", &self.settings)
            .field("addresses", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl WsBudget {
    /// The budget `config` sets.
    pub fn new(config: &Config) -> Self {
        let lookups = usize::try_from(config.ws_lookups.max(1)).unwrap_or(1);
        Self {
            settings: WsSettings::from_config(config),
            connections: DashMap::new(),
            lookups: Semaphore::new(lookups),
            shows: DashMap::new(),
        }
    }

    /// The per-connection limits.
    pub fn settings(&self) -> WsSettings {
        self.settings
    }

    /// Counts a new connection from `ip`: a permit to hold while it is
    /// open, or `too_many_connections`. An unknown address is not counted.
    pub fn connect(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
    ) -> Result<Option<ConnectionPermit>, Error> {
        let max = self.settings.connections_per_ip;
        let Some(ip) = ip.filter(|_| max > 0) else {
            return Ok(None);
        };
        let mut open = self.connections.entry(ip).or_insert(0);
        if *open >= max {
            return Err(Error::refused(
                Code::TooManyConnections,
                format!("at most {max} WebSocket connections from one address"),
            )
            .with_detail("max_connections", max));
        }
        *open += 1;
        Ok(Some(ConnectionPermit {
            budget: Arc::clone(self),
            ip,
        }))
    }

    /// How many addresses have connections open (for tests and metrics).
    pub fn addresses(&self) -> usize {
        self.connections.len()
    }

    /// Runs `lookup` (a database read for a WebSocket request) once one of
    /// the shared look-up permits is free.
    pub async fn lookup<T>(&self, lookup: impl Future<Output = T>) -> T {
        // The semaphore is never closed: a permit always comes.
        let _permit = self.lookups.acquire().await.ok();
        lookup.await
    }

    /// A show's auctions as read less than [`SHOW_SNAPSHOT_TTL`] ago.
    pub fn cached_show(&self, show: ShowId) -> Option<Arc<Vec<AuctionView>>> {
        let cached = self.shows.get(&show)?;
        (cached.at.elapsed() < SHOW_SNAPSHOT_TTL).then(|| Arc::clone(&cached.auctions))
    }

    /// Keeps a show's auctions as just read.
    pub fn cache_show(&self, show: ShowId, auctions: Arc<Vec<AuctionView>>) {
        if self.shows.len() >= MAX_CACHED_SHOWS {
            self.shows
                .retain(|_, cached| cached.at.elapsed() < SHOW_SNAPSHOT_TTL);
            if self.shows.len() >= MAX_CACHED_SHOWS {
                self.shows.clear();
            }
        }
        self.shows.insert(
            show,
            CachedShow {
                at: Instant::now(),
                auctions,
            },
        );
    }
}

/// One open connection of a client IP; counted until dropped.
pub struct ConnectionPermit {
    budget: Arc<WsBudget>,
    ip: IpAddr,
}

impl std::fmt::Debug for ConnectionPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionPermit").finish_non_exhaustive()
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let Entry::Occupied(mut open) = self.budget.connections.entry(self.ip) {
            if *open.get() <= 1 {
                open.remove();
            } else {
                *open.get_mut() -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_per_address_are_counted_until_dropped() {
        let config = Config {
            ws_connections_per_ip: 2,
            ..Config::default()
        };
        let budget = Arc::new(WsBudget::new(&config));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = budget.connect(Some(ip)).unwrap();
        let b = budget.connect(Some(ip)).unwrap();
        let refused = budget.connect(Some(ip)).unwrap_err();
        assert_eq!(refused.code(), Code::TooManyConnections);
        assert_eq!(refused.details()["max_connections"], 2);
        // Another address is not affected, nor is an unknown one.
        let other = budget.connect(Some("192.0.2.8".parse().unwrap())).unwrap();
        assert!(budget.connect(None).unwrap().is_none());
        drop(a);
        let c = budget.connect(Some(ip)).unwrap();
        drop((b, c, other));
        assert_eq!(budget.addresses(), 0);
    }
}

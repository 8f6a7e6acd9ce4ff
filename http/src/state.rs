//! What every handler can reach: services, limits and settings.

use std::sync::Arc;

use blytz::accounts::Accounts;
use blytz::auctions::Auctions;
use blytz::catalog::Catalog;
use blytz::commerce::Commerce;
use blytz::redis_store::Redis;
use blytz::{Config, Db};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::limits::RateLimits;

/// Shared application state (cheap to clone: everything inside is shared).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The settings in force.
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// Redis, when configured.
    pub redis: Option<Redis>,
    /// Accounts and tokens.
    pub accounts: Accounts,
    /// Auctions: the engine and its read models.
    pub auctions: Auctions,
    /// Categories, products, search and pictures.
    pub catalog: Catalog,
    /// Carts, stock, addresses, orders, payments and shipments.
    pub commerce: Commerce,
    /// Shows, their queues, chat and moderation.
    pub shows: blytz::shows::Shows,
    /// Giveaways and flash sales of the shows' queues.
    pub lots: blytz::shows::lots::Lots,
    /// Follows of sellers and bookmarks of shows.
    pub audience: blytz::audience::Audience,
    /// Notices: inbox, preferences, push subscriptions, deliveries.
    pub notifications: blytz::notify::Notifications,
    /// LiveKit video, when configured.
    pub streaming: Option<blytz::streaming::Streaming>,
    /// Rate limits.
    pub limits: Arc<RateLimits>,
    /// What WebSocket clients may hold and do.
    pub ws: Arc<crate::ws::budget::WsBudget>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// This node's shard leases, in cluster mode.
    pub cluster: Option<Arc<blytz::cluster::Leases>>,
    /// Whether the node is stopping (`/ready`, WebSocket closes).
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
}

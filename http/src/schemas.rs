//! Request bodies that belong to the HTTP layer alone. Everything else in the
//! OpenAPI document is derived from the types the server really reads and
//! sends (the engine's views and requests, the services' models).

use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /api/v1/auctions/{id}/bids` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BidRequest {
    /// The visible amount, minor units: at least `min_next_bid`.
    pub amount: i64,
    /// The hidden maximum for proxy bidding, at least `amount`.
    pub max_amount: Option<i64>,
    /// Idempotency key: a retry answers the first outcome.
    pub request_id: Option<String>,
}

/// `POST /api/v1/auctions/{id}/extend` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExtendRequest {
    /// Milliseconds to add to the deadline.
    pub by_ms: i64,
}

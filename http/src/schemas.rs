//! Request bodies that belong to the HTTP layer alone (a bid's body is the
//! engine's own `rules::Bid`). Everything else in the
//! OpenAPI document is derived from the types the server really reads and
//! sends (the engine's views and requests, the services' models).

use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /api/v1/auctions/{id}/extend` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExtendRequest {
    /// Milliseconds to add to the deadline.
    pub by_ms: i64,
}

//! OpenAPI schemas of the engine's wire types. The engine knows no HTTP, so
//! its types carry no schema derives; these mirror them for the document
//! only (requests are parsed into the engine's own types).

use serde::Deserialize;
use utoipa::ToSchema;

/// An auction as REST returns it and as `auction.snapshot` carries it. The
/// reserve amount and bidders' maxima are never shown.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct Auction {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    seller_id: String,
    #[schema(format = Uuid)]
    product_id: String,
    #[schema(format = Uuid)]
    show_id: Option<String>,
    /// `scheduled`, `live`, `paused`, `ended` or `cancelled`.
    status: String,
    /// ISO 4217 code, e.g. `USD`.
    currency: String,
    /// Minor units.
    start_price: i64,
    /// Minor units; null until the first bid.
    current_price: Option<i64>,
    #[schema(format = Uuid)]
    leader_id: Option<String>,
    bid_count: u32,
    /// The lowest acceptable next bid, minor units.
    min_next_bid: i64,
    /// Whether the hidden reserve is met.
    reserve_met: bool,
    /// While buy-now is available, else null.
    buy_now_price: Option<i64>,
    /// The deadline while live, the end time once over; null otherwise.
    #[schema(format = DateTime)]
    ends_at: Option<String>,
    /// Anti-snipe extensions so far.
    extensions: u32,
    /// The seq of the last event included (gapless per auction).
    seq: u64,
    #[schema(format = DateTime)]
    server_time: String,
}

/// One increment tier: from this price on, bids go up by `step`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct IncrementTier {
    /// Minor units.
    from: i64,
    /// Minor units.
    step: i64,
}

/// `POST /api/v1/auctions` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct CreateAuction {
    #[schema(format = Uuid)]
    product_id: String,
    #[schema(format = Uuid)]
    show_id: Option<String>,
    currency: String,
    start_price: i64,
    reserve_price: Option<i64>,
    buy_now_price: Option<i64>,
    /// Running time once started.
    duration_ms: i64,
    /// `standard` (anti-snipe) or `sudden_death`.
    mode: Option<String>,
    /// Default 10 000.
    snipe_window_ms: Option<i64>,
    /// Default 10 000.
    snipe_extend_to_ms: Option<i64>,
    max_extensions: Option<u32>,
    #[schema(format = DateTime)]
    hard_close_at: Option<String>,
    increments: Option<Vec<IncrementTier>>,
}

/// A bid as acknowledged.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct BidReceipt {
    #[schema(format = Uuid)]
    id: String,
    amount: i64,
    #[schema(format = Uuid)]
    bidder_id: String,
    #[schema(format = DateTime)]
    created_at: String,
}

/// The answer to a bid (REST 201 and WebSocket `bid.accepted`).
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct BidOutcome {
    bid: BidReceipt,
    /// Whether this bidder leads after the bid.
    leading: bool,
    auction: Auction,
}

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

/// A page of auctions.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct AuctionPage {
    items: Vec<Auction>,
    /// Pass as `cursor` for the next page; null at the end.
    next_cursor: Option<String>,
}

/// A page of bids, newest first.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct BidPage {
    items: Vec<blytz::auctions::BidRecord>,
    /// Pass as `cursor` for the next page; null at the end.
    next_cursor: Option<String>,
}

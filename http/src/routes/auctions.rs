//! `/api/v1/auctions`: create, read, list, lifecycle commands, bids,
//! pre-bids, buy-now.
//!
//! Every command goes to the auction's actor and answers only once its
//! events are durable; the same rules and durability serve the WebSocket.

use actix_web::{HttpResponse, delete, get, post, put, web};
use blytz::auctions::AuctionFilter;
use blytz::pagination::{Page, Paged};
use blytz_actors::domain::AuctionId;
use blytz_actors::rules::{Bid, NewAuction, PreBid};
use blytz_actors::view::{AuctionView, BidOutcome, PreBidOutcome};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::command::{self, Lifecycle};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, RequireRole, Seller};
use crate::schemas::ExtendRequest;
use crate::state::AppState;

/// Register the auction routes (under `/api/v1/auctions`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(start)
        .service(pause)
        .service(resume)
        .service(extend)
        .service(end)
        .service(cancel)
        .service(place_bid)
        .service(bids)
        .service(put_pre_bid)
        .service(get_pre_bid)
        .service(withdraw_pre_bid)
        .service(buy_now);
}

/// Create an auction for one of the seller's products (status `scheduled`).
#[utoipa::path(
    tag = "auctions",
    request_body = NewAuction,
    security(("bearer" = [])),
    responses(
        (status = 201, body = AuctionView),
        (status = 403, description = "`forbidden`: not a seller, not the product's owner, or the show is another seller's", body = ErrorBody),
        (status = 404, description = "`not_found`: no such product or show", body = ErrorBody),
        (status = 409, description = "`product_unavailable`, `product_in_auction` or `show_ended`", body = ErrorBody),
        (status = 422, description = "`invalid_config`; `validation_failed` (e.g. `currency` must be the product's)", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[post("")]
async fn create(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    body: web::Json<NewAuction>,
) -> ApiResult<HttpResponse> {
    let new = body.into_inner();
    let view = if new.show_id.is_some() {
        state.shows.create_lot(seller.caller(), new).await?
    } else {
        state.auctions.create(seller.caller(), new, None).await?
    };
    Ok(HttpResponse::Created().json(view))
}

/// Auctions, newest first, filtered by status, seller or show.
#[utoipa::path(
    tag = "auctions",
    params(AuctionFilter, Page),
    responses(
        (status = 200, body = Paged<AuctionView>),
        (status = 422, description = "`validation_failed`: a filter, `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    filter: web::Query<AuctionFilter>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.auctions.list(&filter, &page).await?))
}

/// One auction, live from its actor.
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = AuctionView),
        (status = 404, body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[get("/{id}")]
async fn get_one(state: web::Data<AppState>, id: web::Path<AuctionId>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.auctions.view(*id).await?))
}

/// Declares a lifecycle command route: owner or admin, answers the auction.
macro_rules! lifecycle_route {
    ($name:ident, $path:literal, $action:ident, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            tag = "auctions",
            params(("id" = String, Path, format = Uuid)),
            security(("bearer" = [])),
            responses(
                (status = 200, body = AuctionView),
                (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
                (status = 404, body = ErrorBody),
                (status = 409, description = "`invalid_transition` or `auction_closed`", body = ErrorBody),
                (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
            )
        )]
        #[post($path)]
        async fn $name(
            state: web::Data<AppState>,
            user: AuthUser,
            id: web::Path<AuctionId>,
        ) -> ApiResult<HttpResponse> {
            let command = Lifecycle::$action.into();
            let outcome = command::execute(&state, user.caller(), *id, command).await?;
            Ok(HttpResponse::Ok().json(outcome))
        }
    };
}

lifecycle_route!(
    start,
    "/{id}/start",
    Start,
    "Start a scheduled auction: the clock runs."
);
lifecycle_route!(
    pause,
    "/{id}/pause",
    Pause,
    "Pause a live auction: the clock stops."
);
lifecycle_route!(resume, "/{id}/resume", Resume, "Resume a paused auction.");
lifecycle_route!(
    end,
    "/{id}/end",
    End,
    "Hammer: end now; the leader (if the reserve is met) wins."
);
lifecycle_route!(
    cancel,
    "/{id}/cancel",
    Cancel,
    "Call the auction off: no winner."
);

/// Move a live auction's deadline later.
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    request_body = ExtendRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuctionView),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition` (not live) or `auction_closed`", body = ErrorBody),
        (status = 422, description = "`invalid_amount`: `by_ms` out of range", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[post("/{id}/extend")]
async fn extend(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
    body: web::Json<ExtendRequest>,
) -> ApiResult<HttpResponse> {
    let command = command::extend(body.by_ms);
    let outcome = command::execute(&state, user.caller(), *id, command).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// Place a bid. Answers only once the bid is durable (201), or a rejection
/// such as `bid_too_low` with `details.min_bid`.
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    request_body = Bid,
    security(("bearer" = [])),
    responses(
        (status = 201, body = BidOutcome),
        (status = 403, description = "`own_auction`", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`auction_not_live`, `auction_closed`, `already_leading`", body = ErrorBody),
        (status = 422, description = "`bid_too_low` (details.min_bid), `invalid_amount`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the bid limit per user, or the general limit", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[post("/{id}/bids")]
async fn place_bid(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
    body: web::Json<Bid>,
) -> ApiResult<HttpResponse> {
    let command = command::bid(body.into_inner());
    let outcome = command::execute(&state, user.caller(), *id, command).await?;
    Ok(HttpResponse::Created().json(outcome))
}

/// The auction's bids, newest first (amounts only; maxima stay hidden).
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid), Page),
    responses(
        (status = 200, body = Paged<blytz::auctions::BidRecord>),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[get("/{id}/bids")]
async fn bids(
    state: web::Data<AppState>,
    id: web::Path<AuctionId>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.auctions.bids(*id, &page).await?))
}

/// Place or raise the caller's pre-bid on a scheduled auction: a hidden
/// maximum that enters as a bid, in placement order, when the auction
/// starts. A raise must be higher and moves the pre-bid to the end of the
/// order. Answers once durable; a retry with the same `request_id` answers
/// the first outcome.
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    request_body = PreBid,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PreBidOutcome),
        (status = 402, description = "`payment_method_required`: bidding here needs a card on file", body = ErrorBody),
        (status = 403, description = "`own_auction`", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`auction_not_scheduled` (live or paused), `auction_closed`, `pre_bid_not_raised` (details.max_amount)", body = ErrorBody),
        (status = 422, description = "`bid_too_low` (details.min_bid: the start price), `invalid_amount`, `invalid_request_id`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the bid limit per user, or the general limit", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[put("/{id}/pre-bid")]
async fn put_pre_bid(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
    body: web::Json<PreBid>,
) -> ApiResult<HttpResponse> {
    let command = command::pre_bid(body.into_inner());
    let outcome = command::execute(&state, user.caller(), *id, command).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// The caller's own pre-bid on an auction, with its maximum (nobody else's
/// is ever shown; the auction says only `pre_bid_count`).
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PreBidOutcome),
        (status = 404, description = "`no_pre_bid` (none placed, withdrawn, or entered as a bid at the start) or `not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[get("/{id}/pre-bid")]
async fn get_pre_bid(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.auctions.pre_bid(*id, user.caller()).await?))
}

/// Withdraw the caller's pre-bid before the auction starts; answers the auction.
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuctionView),
        (status = 404, description = "`no_pre_bid` or `not_found`", body = ErrorBody),
        (status = 409, description = "`auction_not_scheduled` (live or paused) or `auction_closed`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[delete("/{id}/pre-bid")]
async fn withdraw_pre_bid(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> ApiResult<HttpResponse> {
    let command = command::withdraw_pre_bid();
    let outcome = command::execute(&state, user.caller(), *id, command).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// Buy now at the buy-now price: ends the auction with the caller as winner.
#[utoipa::path(
    tag = "auctions",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuctionView),
        (status = 403, description = "`own_auction`", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`buy_now_unavailable`, `auction_not_live`, `auction_closed`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the auction is being recovered; retry", body = ErrorBody),
    )
)]
#[post("/{id}/buy-now")]
async fn buy_now(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> ApiResult<HttpResponse> {
    let command = Lifecycle::BuyNow.into();
    let outcome = command::execute(&state, user.caller(), *id, command).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

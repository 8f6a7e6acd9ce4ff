//! `/api/v1/giveaways` and `/api/v1/flash-sales`: a show's lots that are not
//! auctions (they are created under `/shows/{id}`; see docs/live-commerce.md).

use actix_web::{HttpResponse, get, post, web};
use blytz::shows::lots::{Claim, ClaimInput, FlashSale, Giveaway};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the giveaway routes (under `/api/v1/giveaways`).
pub fn configure_giveaways(cfg: &mut ServiceConfig) {
    cfg.service(giveaway).service(enter);
}

/// Register the flash sale routes (under `/api/v1/flash-sales`).
pub fn configure_flash_sales(cfg: &mut ServiceConfig) {
    cfg.service(flash_sale).service(claim);
}

/// One giveaway: once open its `seed_hash`; once drawn its `seed`, the
/// sorted `entrants` and the `winner_id`, so anyone can recompute the draw.
#[utoipa::path(
    tag = "giveaways",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Giveaway), (status = 404, body = ErrorBody))
)]
#[get("/{id}")]
async fn giveaway(state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.lots.giveaway(*id).await?))
}

/// Enter an open giveaway. Everyone present in the show's room when it
/// opens and when it closes is entered anyway; this enters a viewer who
/// joined in between. Entering twice changes nothing.
#[utoipa::path(
    tag = "giveaways",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Giveaway),
        (status = 403, description = "`own_lot`: the seller cannot enter", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`giveaway_not_open`; `not_present`: the caller has no socket subscribed to the show's room", body = ErrorBody),
    )
)]
#[post("/{id}/entries")]
async fn enter(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.lots.enter_giveaway(user.caller(), *id).await?))
}

/// One flash sale, with the units `remaining`.
#[utoipa::path(
    tag = "flash-sales",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = FlashSale), (status = 404, body = ErrorBody))
)]
#[get("/{id}")]
async fn flash_sale(state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.lots.flash_sale(*id).await?))
}

/// Claim units of a live flash sale (`{"quantity":1}`): an order at the
/// sale's price, like a buy-now purchase, in the buyer's bundle of the show
/// (and, like a buy-now, refused without a card where the show needs one).
#[utoipa::path(
    tag = "flash-sales",
    params(("id" = String, Path, format = Uuid)),
    request_body = ClaimInput,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Claim),
        (status = 402, description = "`payment_method_required`: the show needs a card on file to buy", body = ErrorBody),
        (status = 403, description = "`own_lot`: the seller cannot claim", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`sold_out` (`details.remaining`), `claim_limit_reached` (`details.per_buyer_cap`, `details.claimed`), `flash_sale_not_live`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `quantity`; `amount_too_large`", body = ErrorBody),
    )
)]
#[post("/{id}/claims")]
async fn claim(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ClaimInput>,
) -> ApiResult<HttpResponse> {
    let claim = state
        .lots
        .claim(user.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(claim))
}

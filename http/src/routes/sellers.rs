//! `/api/v1/sellers/me`: a seller's shipping rates and payouts (Stripe
//! Connect onboarding, balance, transfers).

use actix_web::{HttpResponse, get, post, put, web};
use blytz::commerce::bundles::ShippingRates;
use blytz::commerce::payouts::{Balance, Onboarding, Payout};
use blytz::pagination::{Page, Paged};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the seller routes (under `/api/v1/sellers/me`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_shipping)
        .service(put_shipping)
        .service(onboard)
        .service(balance)
        .service(payouts);
}

/// The caller's shipping rates: the first item of a bundle, then each additional one.
#[utoipa::path(
    tag = "sellers",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ShippingRates),
        (status = 404, description = "`not_found`: no rates set (orders pay the flat shipping setting)", body = ErrorBody),
    )
)]
#[get("/shipping")]
async fn get_shipping(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.shipping_rates(user.caller().id).await?))
}

/// Set the caller's shipping rates (sellers).
#[utoipa::path(
    tag = "sellers",
    request_body = ShippingRates,
    security(("bearer" = [])),
    responses(
        (status = 200, body = ShippingRates),
        (status = 403, description = "`forbidden`: only sellers", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `currency`, `first_item` or `additional_item`", body = ErrorBody),
    )
)]
#[put("/shipping")]
async fn put_shipping(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ShippingRates>,
) -> ApiResult<HttpResponse> {
    let rates = state
        .commerce
        .set_shipping_rates(user.caller(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(rates))
}

/// The caller's connected account for payouts (made on first call) and the
/// link where they finish onboarding at the gateway.
#[utoipa::path(
    tag = "sellers",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Onboarding),
        (status = 403, description = "`forbidden`: only sellers", body = ErrorBody),
        (status = 503, description = "`payments_manual`: no gateway; `payment_gateway_unavailable`", body = ErrorBody),
    )
)]
#[post("/payouts/onboard")]
async fn onboard(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.onboard_seller(user.caller()).await?))
}

/// What waits to be paid out to the caller and what was, per currency.
#[utoipa::path(
    tag = "sellers",
    security(("bearer" = [])),
    responses((status = 200, body = Balance))
)]
#[get("/balance")]
async fn balance(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.seller_balance(user.caller()).await?))
}

/// The caller's payouts (one transfer per delivered order), newest first.
#[utoipa::path(
    tag = "sellers",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<Payout>),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("/payouts")]
async fn payouts(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.payouts(user.caller(), &page).await?))
}

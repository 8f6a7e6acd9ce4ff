//! `/api/v1/payments`: the payment intent of an unpaid order, and the
//! caller's cards on file.

use actix_web::{HttpResponse, delete, get, post, put, web};
use blytz::commerce::cards::{CardSetup, ConfirmSetupInput, PaymentMethod};
use blytz::commerce::payments::{IntentInput, PaymentIntentView};
use blytz::pagination::{Page, Paged};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the payment routes (under `/api/v1/payments`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(intent)
        .service(setup)
        .service(confirm)
        .service(list_methods)
        .service(remove_method)
        .service(default_method);
}

/// Make (or find again) the gateway's payment intent for the caller's unpaid
/// (or `payment_failed`) order; the browser confirms it with
/// `client_secret`. The order becomes `paid` when the gateway's webhook says so.
#[utoipa::path(
    tag = "payments",
    request_body = IntentInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PaymentIntentView),
        (status = 404, description = "`not_found`: no such order of the caller's", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: not awaiting payment; `payment_refused` by the gateway", body = ErrorBody),
        (status = 422, description = "`validation_failed`: the gateway does not take the order's currency", body = ErrorBody),
        (status = 503, description = "`payments_manual`: no gateway configured; `payment_gateway_unavailable`", body = ErrorBody),
    )
)]
#[post("/intent")]
async fn intent(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<IntentInput>,
) -> ApiResult<HttpResponse> {
    let view = state
        .commerce
        .payment_intent(user.caller(), body.order_id)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Start saving a card: a setup intent of the caller's customer (made on
/// first need). The browser confirms it with Stripe.js; the card is stored
/// when the gateway says it succeeded (webhook, or `POST /methods/confirm`).
#[utoipa::path(
    tag = "payments",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CardSetup),
        (status = 503, description = "`payments_manual`: no gateway configured; `payment_gateway_unavailable`", body = ErrorBody),
    )
)]
#[post("/methods/setup")]
async fn setup(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.setup_card(user.caller()).await?))
}

/// Read a setup intent the browser just confirmed back from the gateway and
/// store its card (the webhook does the same; either stores it once).
#[utoipa::path(
    tag = "payments",
    request_body = ConfirmSetupInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PaymentMethod),
        (status = 404, description = "`not_found`: not a setup intent of the caller's", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the setup intent has not succeeded", body = ErrorBody),
        (status = 503, description = "`payments_manual`; `payment_gateway_unavailable`", body = ErrorBody),
    )
)]
#[post("/methods/confirm")]
async fn confirm(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ConfirmSetupInput>,
) -> ApiResult<HttpResponse> {
    let card = state
        .commerce
        .confirm_card(user.caller(), &body.setup_intent_id)
        .await?;
    Ok(HttpResponse::Ok().json(card))
}

/// The caller's saved cards, newest first: brand, last four digits, expiry.
#[utoipa::path(
    tag = "payments",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<PaymentMethod>),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("/methods")]
async fn list_methods(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.cards(user.caller(), &page).await?))
}

/// Remove a saved card (detached at the gateway); when it was the default,
/// the newest remaining card becomes the default.
#[utoipa::path(
    tag = "payments",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`: no such card of the caller's", body = ErrorBody),
        (status = 503, description = "`payment_gateway_unavailable`", body = ErrorBody),
    )
)]
#[delete("/methods/{id}")]
async fn remove_method(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.commerce.remove_card(user.caller(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make a saved card the one charged at the hammer.
#[utoipa::path(
    tag = "payments",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PaymentMethod),
        (status = 404, description = "`not_found`: no such card of the caller's", body = ErrorBody),
    )
)]
#[put("/methods/{id}/default")]
async fn default_method(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.set_default_card(user.caller(), *id).await?))
}

//! `/api/v1/payments`: the payment intent of an unpaid order.

use actix_web::{HttpResponse, post, web};
use blytz::commerce::payments::{IntentInput, PaymentIntentView};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the payment routes (under `/api/v1/payments`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(intent);
}

/// Make (or find again) the gateway's payment intent for the caller's unpaid
/// order; the browser confirms it with `client_secret`. The order becomes
/// `paid` when the gateway's webhook says so.
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

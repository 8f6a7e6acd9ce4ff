//! `/api/v1/webhooks/stripe`: Stripe's events, verified by the
//! `Stripe-Signature` header over the raw body bytes; and
//! `/api/v1/webhooks/ninjavan`: Ninja Van's tracking reports, verified by the
//! `X-Ninjavan-Hmac-Sha256` header over the raw body bytes.

use actix_web::{HttpRequest, HttpResponse, post, web};
use blytz::commerce::payments::webhooks::WebhookReceipt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

/// Register the Stripe webhook route (under `/api/v1/webhooks/stripe`; a
/// scope of its own, so other webhooks can sit beside it).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(stripe);
}

/// Register the Ninja Van webhook route (under `/api/v1/webhooks/ninjavan`).
pub fn configure_ninjavan(cfg: &mut ServiceConfig) {
    cfg.service(ninjavan);
}

/// A Ninja Van tracking report: recorded once on every order of its parcel;
/// "delivered" delivers them all. A bad signature changes nothing.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "The Ninja Van webhook, as sent"),
    params(("X-Ninjavan-Hmac-Sha256" = String, Header, description = "base64 HMAC-SHA256 of the body")),
    responses(
        (status = 200, body = WebhookReceipt),
        (status = 400, description = "`invalid_event`: the body is not a tracking report", body = ErrorBody),
        (status = 401, description = "`invalid_signature`: the signature is missing or does not match the body", body = ErrorBody),
        (status = 413, description = "the body is over 256 KiB"),
        (status = 503, description = "`carrier_not_configured`", body = ErrorBody),
    )
)]
#[post("")]
async fn ninjavan(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let signature = req
        .headers()
        .get("X-Ninjavan-Hmac-Sha256")
        .and_then(|v| v.to_str().ok());
    let receipt = state.commerce.carrier_webhook(signature, &body).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

/// A Stripe event. 400 `invalid_signature` when the signature is missing,
/// wrong or more than five minutes old; an event already handled answers
/// 200 with `duplicate: true` and changes nothing.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "The Stripe event, as sent"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256>")),
    responses(
        (status = 200, body = WebhookReceipt),
        (status = 400, description = "`invalid_event`: the body is not a Stripe event", body = ErrorBody),
        (status = 401, description = "`invalid_signature`: the Stripe-Signature header is missing, stale or does not match the body", body = ErrorBody),
        (status = 413, description = "the body is over 256 KiB"),
        (status = 503, description = "`stripe_not_configured`", body = ErrorBody),
    )
)]
#[post("")]
async fn stripe(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let signature = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok());
    let receipt = state.commerce.stripe_webhook(&body, signature).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

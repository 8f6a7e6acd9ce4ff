//! `POST /api/v1/webhooks/livekit`: what LiveKit reports about show rooms,
//! verified by the JWT in the `Authorization` header over the raw body.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, post, web};
use blytz::streaming::{self, apply_event};
use serde::Serialize;

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

/// The answer to a verified LiveKit webhook.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookApplied {
    /// Whether a show's stream state changed (the room belongs to a show and
    /// the event is one Blytz follows).
    pub applied: bool,
}

/// A LiveKit webhook (`room_started`, `room_finished`, `participant_joined`,
/// `participant_left`; others are accepted and ignored). It must carry in
/// `Authorization` a JWT signed with the LiveKit API secret, issued by the API
/// key, whose `sha256` claim is the base64 SHA-256 of the body; otherwise 401
/// `invalid_signature` and nothing changes.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, content_type = "application/webhook+json", description = "The LiveKit event, as sent"),
    params(("Authorization" = String, Header, description = "The JWT LiveKit signs each webhook with")),
    responses(
        (status = 200, body = WebhookApplied),
        (status = 401, description = "`invalid_signature`", body = ErrorBody),
        (status = 413, description = "the body is over 256 KiB"),
        (status = 503, description = "`streaming_not_configured`", body = ErrorBody),
    )
)]
#[post("/webhooks/livekit")]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let streaming = state
        .streaming
        .as_ref()
        .ok_or_else(streaming::not_configured)?;
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // A body that is not UTF-8 cannot be what LiveKit signed.
    let body = std::str::from_utf8(&body).unwrap_or_default();
    let event = streaming.verify_webhook(body, authorization)?;
    let applied = apply_event(&state.db, &event).await?;
    tracing::info!(event = %event.event, room = ?event.room, applied, "LiveKit webhook");
    Ok(HttpResponse::Ok().json(WebhookApplied { applied }))
}

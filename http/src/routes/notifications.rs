//! Notifications: the caller's inbox (`/api/v1/notifications`), marking
//! notices read, per-kind email and push preferences, the unsubscribe link
//! of notice emails (no sign-in), and browsers' push subscriptions
//! (`/api/v1/push/subscriptions`).

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, delete, get, post, put, web};
use blytz::notify::{
    MarkRead, NewPushSubscription, Notification, Preferences, PushSubscriptionView,
};
use blytz::pagination::{Page, Paged};
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the inbox routes (under `/api/v1/notifications`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(inbox)
        .service(mark_read)
        .service(preferences)
        .service(set_preferences)
        .service(unsubscribe_get)
        .service(unsubscribe_post);
}

/// Register the push subscription routes (under `/api/v1/push`).
pub fn configure_push(cfg: &mut ServiceConfig) {
    cfg.service(vapid_key)
        .service(subscribe)
        .service(subscriptions)
        .service(unsubscribe_push);
}

/// A page of the inbox and how many notices are unread.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    /// Newest first.
    pub items: Vec<Notification>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
    /// Unread notices in all.
    pub unread_count: u64,
}

/// The caller's notices, newest first.
#[utoipa::path(
    tag = "notifications",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Inbox),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn inbox(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<web::Json<Inbox>> {
    let Paged { items, next_cursor } = state.notifications.inbox(user.id, &page).await?;
    let unread_count = state.notifications.unread_count(user.id).await?;
    Ok(web::Json(Inbox {
        items,
        next_cursor,
        unread_count,
    }))
}

/// How many notices changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Marked {
    /// Notices marked read now (those already read are not counted).
    pub updated: u64,
}

/// Mark notices read: `{"ids":[…]}` (the caller's own; at most 100) or
/// `{"all":true}`.
#[utoipa::path(
    tag = "notifications",
    request_body = MarkRead,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Marked),
        (status = 422, description = "`validation_failed`: no ids, or too many", body = ErrorBody),
    )
)]
#[post("/read")]
async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MarkRead>,
) -> ApiResult<web::Json<Marked>> {
    let updated = state.notifications.mark_read(user.id, &body).await?;
    Ok(web::Json(Marked { updated }))
}

/// The caller's channels per kind of notice (the inbox and open sockets
/// always get every notice; email and Web Push are chosen here).
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = Preferences))
)]
#[get("/preferences")]
async fn preferences(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Preferences>> {
    Ok(web::Json(state.notifications.preferences(user.id).await?))
}

/// Set the caller's channels for the listed kinds; answers every kind.
#[utoipa::path(
    tag = "notifications",
    request_body = Preferences,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 422, description = "`validation_failed`: a kind listed twice, or unknown", body = ErrorBody),
    )
)]
#[put("/preferences")]
async fn set_preferences(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Preferences>,
) -> ApiResult<web::Json<Preferences>> {
    Ok(web::Json(
        state.notifications.set_preferences(user.id, &body).await?,
    ))
}

/// The token of an unsubscribe link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UnsubscribeQuery {
    /// As the email's link carries it.
    pub token: String,
}

/// What an unsubscribe link stopped.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unsubscribed {
    /// The kind of notice no longer emailed.
    pub kind: blytz::notify::Kind,
    /// Always false now.
    pub email: bool,
}

/// An email's unsubscribe link, opened in a browser: stops that kind of
/// notice by email, without signing in, and says so in a page.
#[utoipa::path(
    tag = "notifications",
    params(UnsubscribeQuery),
    responses(
        (status = 200, description = "an HTML page saying what stopped", content_type = "text/html"),
        (status = 404, description = "`invalid_link`", body = ErrorBody),
    )
)]
#[get("/unsubscribe")]
async fn unsubscribe_get(
    state: web::Data<AppState>,
    query: web::Query<UnsubscribeQuery>,
) -> ApiResult<HttpResponse> {
    let kind = state.notifications.unsubscribe(&query.token).await?;
    let text = kind.as_str().replace('_', " ");
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>Unsubscribed</title>\
         <p>You will no longer get emails about: {text}.</p>\
         <p>Change this any time in your notification settings.</p>"
        )))
}

/// One-click unsubscribe (RFC 8058): the same as the link, for mail clients.
#[utoipa::path(
    tag = "notifications",
    params(UnsubscribeQuery),
    responses(
        (status = 200, body = Unsubscribed),
        (status = 404, description = "`invalid_link`", body = ErrorBody),
    )
)]
#[post("/unsubscribe")]
async fn unsubscribe_post(
    state: web::Data<AppState>,
    query: web::Query<UnsubscribeQuery>,
) -> ApiResult<web::Json<Unsubscribed>> {
    let kind = state.notifications.unsubscribe(&query.token).await?;
    Ok(web::Json(Unsubscribed { kind, email: false }))
}

/// The key browsers subscribe with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VapidKey {
    /// The VAPID public key (uncompressed P-256, base64url): the
    /// `applicationServerKey` of `PushManager.subscribe`. Null: this server
    /// does not send Web Push.
    pub public_key: Option<String>,
}

/// The VAPID public key for `PushManager.subscribe`.
#[utoipa::path(tag = "notifications", responses((status = 200, body = VapidKey)))]
#[get("/vapid-key")]
async fn vapid_key(state: web::Data<AppState>) -> web::Json<VapidKey> {
    web::Json(VapidKey {
        public_key: state.notifications.vapid_public_key(),
    })
}

/// Store the browser's push subscription (`PushSubscription.toJSON()`).
/// The same endpoint again updates its keys.
#[utoipa::path(
    tag = "notifications",
    request_body = NewPushSubscription,
    security(("bearer" = [])),
    responses(
        (status = 201, body = PushSubscriptionView),
        (status = 422, description = "`validation_failed`: not an https endpoint, or keys of the wrong shape", body = ErrorBody),
        (status = 503, description = "`push_not_configured`", body = ErrorBody),
    )
)]
#[post("/subscriptions")]
async fn subscribe(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<NewPushSubscription>,
) -> ApiResult<HttpResponse> {
    let view = state.notifications.subscribe_push(user.id, &body).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The caller's push subscriptions.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<PushSubscriptionView>))
)]
#[get("/subscriptions")]
async fn subscriptions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Vec<PushSubscriptionView>>> {
    Ok(web::Json(
        state.notifications.push_subscriptions(user.id).await?,
    ))
}

/// Delete one of the caller's push subscriptions.
#[utoipa::path(
    tag = "notifications",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[delete("/subscriptions/{id}")]
async fn unsubscribe_push(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    state.notifications.unsubscribe_push(user.id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! The audience: follow sellers (`/api/v1/sellers/{id}/follow`), bookmark
//! shows (`/api/v1/shows/{id}/bookmark`), and the caller's lists of both
//! (`/api/v1/users/me/following`, `/api/v1/users/me/bookmarks`).
//!
//! The show and user routes are registered inside the `/shows` and `/users`
//! scopes (the first scope that matches a prefix owns every path under it,
//! so a second `/shows` scope would never be reached); the seller routes
//! have a `/sellers` scope of their own.

use actix_web::{HttpResponse, delete, get, post, web};
use blytz::audience::{Added, BookmarkedShow, FollowedSeller};
use blytz::pagination::{Page, Paged};
use blytz_actors::domain::{ShowId, UserId};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register follow and unfollow (under `/api/v1/sellers`).
pub fn configure_sellers(cfg: &mut ServiceConfig) {
    cfg.service(follow).service(unfollow);
}

/// Register bookmark and unbookmark (inside the `/api/v1/shows` scope).
pub fn configure_shows(cfg: &mut ServiceConfig) {
    cfg.service(bookmark).service(unbookmark);
}

/// Register the caller's lists (inside the `/api/v1/users` scope).
pub fn configure_users(cfg: &mut ServiceConfig) {
    cfg.service(following).service(bookmarks);
}

fn added(added: Added) -> actix_web::HttpResponseBuilder {
    if added.is_new() {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
}

/// Follow a seller: 201 the first time, 200 when already following.
#[utoipa::path(
    tag = "audience",
    params(("id" = String, Path, format = Uuid, description = "The seller")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "now following", body = FollowedSeller),
        (status = 200, description = "already following; nothing changed", body = FollowedSeller),
        (status = 404, description = "`not_found`: no such user, or not a seller", body = ErrorBody),
        (status = 409, description = "`cannot_follow_self`", body = ErrorBody),
    )
)]
#[post("/{id}/follow")]
async fn follow(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<UserId>,
) -> ApiResult<HttpResponse> {
    let (seller, outcome) = state.audience.follow(user.id, *id).await?;
    Ok(added(outcome).json(seller))
}

/// Stop following a seller (204 also when not following).
#[utoipa::path(
    tag = "audience",
    params(("id" = String, Path, format = Uuid, description = "The seller")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "not following (any more)"),
        (status = 404, description = "`not_found`: no such user, or not a seller", body = ErrorBody),
    )
)]
#[delete("/{id}/follow")]
async fn unfollow(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<UserId>,
) -> ApiResult<HttpResponse> {
    state.audience.unfollow(user.id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bookmark a show: 201 the first time, 200 when already bookmarked.
#[utoipa::path(
    tag = "audience",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "bookmarked", body = BookmarkedShow),
        (status = 200, description = "already bookmarked; nothing changed", body = BookmarkedShow),
        (status = 404, description = "`not_found`: no such show", body = ErrorBody),
    )
)]
#[post("/{id}/bookmark")]
async fn bookmark(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    let (show, outcome) = state.audience.bookmark(user.id, *id).await?;
    Ok(added(outcome).json(show))
}

/// Drop a bookmark (204 also when there was none).
#[utoipa::path(
    tag = "audience",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "not bookmarked (any more)"),
        (status = 404, description = "`not_found`: no such show", body = ErrorBody),
    )
)]
#[delete("/{id}/bookmark")]
async fn unbookmark(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    state.audience.unbookmark(user.id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The sellers the caller follows, newest follow first.
#[utoipa::path(
    tag = "audience",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<FollowedSeller>),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("/me/following")]
async fn following(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.audience.following(user.id, &page).await?))
}

/// The shows the caller bookmarked, newest bookmark first.
#[utoipa::path(
    tag = "audience",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<BookmarkedShow>),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("/me/bookmarks")]
async fn bookmarks(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.audience.bookmarks(user.id, &page).await?))
}

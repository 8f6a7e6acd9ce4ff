//! `/api/v1/users`: the public face of accounts (the name shown in rooms),
//! so a client can label sellers, leaders and bidders it knows by id.

use actix_web::{HttpResponse, get, web};
use blytz::Error;
use blytz::pagination::Paged;
use blytz_actors::domain::UserId;
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

/// The most ids one lookup takes.
pub const MAX_IDS: usize = 100;

/// Register the user routes (under `/api/v1/users`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(lookup).service(profile);
}

/// `GET /users` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UserQuery {
    /// Comma-separated user ids (1 to 100).
    pub ids: String,
}

/// What anyone may know of a user: the name shown in rooms and chat.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicProfile {
    /// The user.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// The name shown in rooms and chat.
    pub display_name: String,
    /// An optional picture.
    pub avatar_url: Option<String>,
    /// How many users follow them (0 for a user who does not sell).
    pub follower_count: u64,
}

/// A list of public profiles (never paged: `next_cursor` is always null).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct ProfileList {
    items: Vec<PublicProfile>,
    next_cursor: Option<String>,
}

/// Public profiles of the given users, in the order asked; unknown ids are
/// left out. 422 `validation_failed` (`field` = `ids`) for a malformed id or
/// more than 100.
#[utoipa::path(
    tag = "users",
    params(UserQuery),
    responses((status = 200, body = ProfileList), (status = 422, body = ErrorBody))
)]
#[get("")]
async fn lookup(
    state: web::Data<AppState>,
    query: web::Query<UserQuery>,
) -> ApiResult<HttpResponse> {
    let ids = parse_ids(&query.ids)?;
    let counts = state.audience.follower_counts(&ids).await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        match state.accounts.profile(id).await {
            Ok(user) => items.push(PublicProfile {
                id: user.id,
                display_name: user.display_name,
                avatar_url: user.avatar_url,
                follower_count: counts.get(&id).copied().unwrap_or(0),
            }),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HttpResponse::Ok().json(Paged {
        items,
        next_cursor: None,
    }))
}

/// One user's public profile, with their `follower_count`.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = PublicProfile), (status = 404, body = ErrorBody))
)]
#[get("/{id}")]
async fn profile(state: web::Data<AppState>, id: web::Path<UserId>) -> ApiResult<HttpResponse> {
    let user = state.accounts.profile(*id).await?;
    let follower_count = state.audience.follower_count(user.id).await?;
    Ok(HttpResponse::Ok().json(PublicProfile {
        id: user.id,
        display_name: user.display_name,
        avatar_url: user.avatar_url,
        follower_count,
    }))
}

/// Distinct ids, in order: at least one, at most [`MAX_IDS`].
fn parse_ids(text: &str) -> Result<Vec<UserId>, Error> {
    let mut ids: Vec<UserId> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = part
            .parse::<UserId>()
            .map_err(|_| Error::validation("ids", "uuid", format!("`{part}` is not a user id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(Error::validation(
            "ids",
            "count",
            format!("give 1 to {MAX_IDS} comma-separated user ids"),
        ));
    }
    Ok(ids)
}

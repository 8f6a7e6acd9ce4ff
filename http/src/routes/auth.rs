//! `/api/v1/auth`: register, login, refresh, logout, profile, change-password.

use actix_web::{HttpResponse, get, post, put, web};
use blytz::accounts::{AuthSession, ProfileUpdate, Registration, User};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthAttempt, AuthUser};
use crate::state::AppState;

/// Register the auth routes (under `/api/v1/auth`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(profile)
        .service(update_profile)
        .service(change_password);
}

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Login email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /auth/refresh` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from the last register, login or refresh.
    pub refresh_token: String,
}

/// `POST /auth/logout` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LogoutRequest {
    /// Revoke this login's tokens; without it every session of the user is revoked.
    pub refresh_token: Option<String>,
}

/// `POST /auth/change-password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordRequest {
    /// The password in force.
    pub current_password: String,
    /// The new password (8 to 128 characters).
    pub new_password: String,
}

/// Create a buyer or seller account; answers a token pair. Limited per IP.
#[utoipa::path(
    tag = "auth",
    request_body = Registration,
    responses(
        (status = 201, body = AuthSession),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming the field", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    )
)]
#[post("/register")]
async fn register(
    state: web::Data<AppState>,
    _attempt: AuthAttempt,
    body: web::Json<Registration>,
) -> ApiResult<HttpResponse> {
    let session = state.accounts.register(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(session))
}

/// Log in with email and password; answers a token pair. Limited per IP.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthSession),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `email` or `password` missing", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    )
)]
#[post("/login")]
async fn login(
    state: web::Data<AppState>,
    _attempt: AuthAttempt,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let session = state.accounts.login(&body.email, &body.password).await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Trade a refresh token for a new pair. A token works once; presenting a
/// spent one revokes every token of its login (`token_reused`).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = AuthSession),
        (status = 401, description = "`invalid_token` or `token_reused`", body = ErrorBody),
    )
)]
#[post("/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let session = state.accounts.refresh(&body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Revoke the given refresh token's login, or all of the user's sessions.
#[utoipa::path(
    tag = "auth",
    request_body(
        content = Option<LogoutRequest>,
        description = "Optional: without a readable body every session of the user is revoked"
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "logged out"),
        (status = 401, description = "`invalid_token`: also a `refresh_token` that is not one of the caller's", body = ErrorBody),
    )
)]
#[post("/logout")]
async fn logout(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Option<web::Json<LogoutRequest>>,
) -> ApiResult<HttpResponse> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    state
        .accounts
        .logout(user.id, body.refresh_token.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 404, description = "`not_found`: the account no longer exists", body = ErrorBody),
    )
)]
#[get("/profile")]
async fn profile(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.accounts.profile(user.id).await?))
}

/// Change display name or avatar.
#[utoipa::path(
    tag = "auth",
    request_body = ProfileUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 404, description = "`not_found`: the account no longer exists", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `display_name` or `avatar_url`", body = ErrorBody),
    )
)]
#[put("/profile")]
async fn update_profile(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProfileUpdate>,
) -> ApiResult<HttpResponse> {
    let updated = state
        .accounts
        .update_profile(user.id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Change the password; every refresh token of the user is revoked.
#[utoipa::path(
    tag = "auth",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "changed"),
        (status = 401, description = "`invalid_credentials`: the current password is wrong", body = ErrorBody),
        (status = 404, description = "`not_found`: the account no longer exists", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `new_password`", body = ErrorBody),
    )
)]
#[post("/change-password")]
async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    state
        .accounts
        .change_password(user.id, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

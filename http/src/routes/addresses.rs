//! `/api/v1/addresses`: the caller's postal addresses. Only their owner sees
//! them; anyone else gets 404.

use actix_web::{HttpResponse, delete, get, post, put, web};
use blytz::commerce::Address;
use blytz::commerce::addresses::AddressInput;
use blytz::pagination::{Page, Paged};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the address routes (under `/api/v1/addresses`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(remove);
}

/// The caller's addresses, oldest first.
#[utoipa::path(
    tag = "addresses",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<Address>),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.addresses(user.id, &page).await?))
}

/// Add an address; the first of its type becomes the default.
#[utoipa::path(
    tag = "addresses",
    request_body = AddressInput,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Address),
        (status = 422, description = "`validation_failed`: details name the field and rule", body = ErrorBody),
    )
)]
#[post("")]
async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<AddressInput>,
) -> ApiResult<HttpResponse> {
    let address = state
        .commerce
        .create_address(user.id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(address))
}

/// One of the caller's addresses.
#[utoipa::path(
    tag = "addresses",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Address),
        (status = 404, description = "`not_found`: no such address of the caller's", body = ErrorBody),
    )
)]
#[get("/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.address(user.id, *id).await?))
}

/// Replace one of the caller's addresses (`is_default: true` makes it the default of its type).
#[utoipa::path(
    tag = "addresses",
    params(("id" = String, Path, format = Uuid)),
    request_body = AddressInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Address),
        (status = 404, description = "`not_found`: no such address of the caller's", body = ErrorBody),
        (status = 422, description = "`validation_failed`: details name the field and rule", body = ErrorBody),
    )
)]
#[put("/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<AddressInput>,
) -> ApiResult<HttpResponse> {
    let address = state
        .commerce
        .update_address(user.id, *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(address))
}

/// Delete one of the caller's addresses (orders keep their copy).
#[utoipa::path(
    tag = "addresses",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "`not_found`: no such address of the caller's", body = ErrorBody),
    )
)]
#[delete("/{id}")]
async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.commerce.delete_address(user.id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

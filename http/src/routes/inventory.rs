//! `/api/v1/inventory`: stock per product, for its seller or an admin, and
//! the low-stock list.

use actix_web::{HttpResponse, get, put, web};
use blytz::commerce::StockLevel;
use blytz::commerce::inventory::StockInput;
use blytz::ids::ProductId;
use blytz::pagination::{Page, Paged};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, RequireRole, Seller};
use crate::state::AppState;

/// Register the inventory routes (under `/api/v1/inventory`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(low_stock).service(get_stock).service(set_stock);
}

/// Products at or below their low-stock threshold: the seller's own, or all for an admin.
#[utoipa::path(
    tag = "inventory",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<StockLevel>),
        (status = 403, description = "`forbidden`: only sellers may do this", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("/low-stock")]
async fn low_stock(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.low_stock(seller.caller(), &page).await?))
}

/// The stock of a product (its seller or an admin).
#[utoipa::path(
    tag = "inventory",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = StockLevel),
        (status = 403, description = "`forbidden`: only the product's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/products/{id}")]
async fn get_stock(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.stock(user.caller(), *id).await?))
}

/// Set the units on hand of a product (its seller or an admin).
#[utoipa::path(
    tag = "inventory",
    params(("id" = String, Path, format = Uuid)),
    request_body = StockInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = StockLevel),
        (status = 403, description = "`forbidden`: only the product's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`stock_reserved`: below what unpaid checkouts hold", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `quantity` or `low_stock_threshold` out of range", body = ErrorBody),
    )
)]
#[put("/products/{id}")]
async fn set_stock(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ProductId>,
    body: web::Json<StockInput>,
) -> ApiResult<HttpResponse> {
    let level = state
        .commerce
        .set_stock(user.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(level))
}

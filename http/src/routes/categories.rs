//! `/api/v1/categories`: the category tree, read by everyone, managed by admins.

use actix_web::{HttpResponse, delete, get, post, put, web};
use blytz::catalog::{
    Category, CategoryId, CategoryItem, CategoryList, CategoryUpdate, NewCategory,
};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Admin, MaybeAuthUser, RequireRole};
use crate::state::AppState;

/// Register the category routes (under `/api/v1/categories`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove);
}

/// How `GET /categories` lays the categories out.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CategoryView {
    /// Top-level categories, each with its `children` (the default).
    #[default]
    Tree,
    /// Every category in display order, each with its `parent_id`.
    Flat,
}

/// `GET /categories` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryListQuery {
    /// `tree` (default) or `flat`.
    #[param(value_type = Option<CategoryView>)]
    pub view: Option<CategoryView>,
    /// Include hidden categories (admins only; ignored for others).
    pub include_inactive: Option<bool>,
}

/// Every category, as a tree (`?view=tree`, the default) or a flat list
/// (`?view=flat`). Never paged: `next_cursor` is always `null`.
#[utoipa::path(
    tag = "catalog",
    params(CategoryListQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = CategoryList),
        (status = 422, description = "`validation_failed`: `view` or `include_inactive`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    query: web::Query<CategoryListQuery>,
) -> ApiResult<HttpResponse> {
    let include_inactive =
        query.include_inactive.unwrap_or(false) && user.0.is_some_and(|u| u.is_admin());
    let items = match query.view.unwrap_or_default() {
        CategoryView::Tree => state
            .catalog
            .category_tree(include_inactive)
            .await?
            .into_iter()
            .map(CategoryItem::Node)
            .collect(),
        CategoryView::Flat => state
            .catalog
            .categories(include_inactive)
            .await?
            .into_iter()
            .map(CategoryItem::Flat)
            .collect(),
    };
    Ok(HttpResponse::Ok().json(CategoryList {
        items,
        next_cursor: None,
    }))
}

/// One category.
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, format = Uuid, description = "category id")),
    responses((status = 200, body = Category), (status = 404, body = ErrorBody))
)]
#[get("/{id}")]
async fn show(state: web::Data<AppState>, id: web::Path<CategoryId>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.catalog.category(id.into_inner()).await?))
}

/// Create a category (admins).
#[utoipa::path(
    tag = "catalog",
    request_body = NewCategory,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Category),
        (status = 403, description = "`forbidden`: only admins may do this", body = ErrorBody),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `name`, `slug`, or a `parent_id` that names no category", body = ErrorBody),
    )
)]
#[post("")]
async fn create(
    state: web::Data<AppState>,
    _admin: RequireRole<Admin>,
    body: web::Json<NewCategory>,
) -> ApiResult<HttpResponse> {
    let category = state.catalog.create_category(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(category))
}

/// Change a category (admins). A parent cannot be the category or one of
/// its subcategories (422 `no_cycle`).
#[utoipa::path(
    tag = "catalog",
    request_body = CategoryUpdate,
    params(("id" = String, Path, format = Uuid, description = "category id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Category),
        (status = 403, description = "`forbidden`: only admins may do this", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `name`, `slug`, a `parent_id` that names no category, or `no_cycle`", body = ErrorBody),
    )
)]
#[put("/{id}")]
async fn update(
    state: web::Data<AppState>,
    _admin: RequireRole<Admin>,
    id: web::Path<CategoryId>,
    body: web::Json<CategoryUpdate>,
) -> ApiResult<HttpResponse> {
    let category = state
        .catalog
        .update_category(id.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(category))
}

/// Delete a category with no subcategories and no products (admins).
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, format = Uuid, description = "category id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "`forbidden`: only admins may do this", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`category_in_use`", body = ErrorBody),
    )
)]
#[delete("/{id}")]
async fn remove(
    state: web::Data<AppState>,
    _admin: RequireRole<Admin>,
    id: web::Path<CategoryId>,
) -> ApiResult<HttpResponse> {
    state.catalog.delete_category(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

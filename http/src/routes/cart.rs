//! `/api/v1/cart`: a signed-in user's cart (by access token) or a guest's
//! cart (by the `X-Cart-Token` header). Adding to no cart at all makes a
//! guest cart and answers its token in the `X-Cart-Token` response header.
//! With both an access token and a cart token the user's cart is used; to
//! move a guest cart into it, call `POST /cart/merge` with the guest's
//! `X-Cart-Token` after login.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, put, web};
use blytz::Error;
use blytz::commerce::Cart;
use blytz::commerce::cart::{CartChange, CartOwner};
use blytz::ids::ProductId;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthUser, MaybeAuthUser};
use crate::state::AppState;

/// The header that carries a guest cart's token.
pub const CART_TOKEN_HEADER: &str = "X-Cart-Token";

/// Register the cart routes (under `/api/v1/cart`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_cart)
        .service(clear)
        .service(add_item)
        .service(update_item)
        .service(remove_item)
        .service(merge);
}

/// The guest cart token of a request, if any (a blank or oversized one is ignored).
#[derive(Debug, Clone)]
pub struct CartToken(pub Option<String>);

impl FromRequest for CartToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get(CART_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .map(str::to_owned);
        ready(Ok(Self(token)))
    }
}

fn owner(user: MaybeAuthUser, token: CartToken) -> Option<CartOwner> {
    match (user.0, token.0) {
        (Some(user), _) => Some(CartOwner::User(user.id)),
        (None, Some(token)) => Some(CartOwner::Guest(token)),
        (None, None) => None,
    }
}

fn no_cart() -> ApiError {
    Error::NotFound { what: "cart" }.into()
}

/// `POST /cart/items` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddItem {
    /// A product with a buy-now price.
    pub product_id: ProductId,
    /// Units to add (1 to 999).
    pub quantity: i64,
}

/// `PUT /cart/items/{product_id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetQuantity {
    /// The new quantity (1 to 999).
    pub quantity: i64,
}

fn with_token(mut res: actix_web::HttpResponseBuilder, change: CartChange) -> HttpResponse {
    if let Some(token) = change.new_token {
        res.insert_header((CART_TOKEN_HEADER, token));
    }
    res.json(change.cart)
}

/// The caller's cart (empty when there is none).
#[utoipa::path(
    tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token")),
    security((), ("bearer" = [])),
    responses((status = 200, body = Cart))
)]
#[get("")]
async fn get_cart(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    token: CartToken,
) -> ApiResult<HttpResponse> {
    let cart = state.commerce.cart(owner(user, token).as_ref()).await?;
    Ok(HttpResponse::Ok().json(cart))
}

/// Empty the cart.
#[utoipa::path(
    tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 404, description = "`not_found`: neither an access token nor a cart token", body = ErrorBody),
    )
)]
#[delete("")]
async fn clear(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    token: CartToken,
) -> ApiResult<HttpResponse> {
    let owner = owner(user, token).ok_or_else(no_cart)?;
    Ok(HttpResponse::Ok().json(state.commerce.clear_cart(&owner).await?))
}

/// Add a fixed-price product. Without a cart, a guest cart is made and its
/// token answered in `X-Cart-Token`.
#[utoipa::path(
    tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token")),
    request_body = AddItem,
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Cart, headers(("X-Cart-Token" = String, description = "Set when a guest cart was made"))),
        (status = 404, description = "`not_found`: no such product, or no guest cart with this token", body = ErrorBody),
        (status = 409, description = "`not_fixed_price`, `product_unavailable`, `insufficient_stock`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `quantity` (1 to 999 in the cart)", body = ErrorBody),
    )
)]
#[post("/items")]
async fn add_item(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    token: CartToken,
    body: web::Json<AddItem>,
) -> ApiResult<HttpResponse> {
    let owner = owner(user, token);
    let change = state
        .commerce
        .add_to_cart(owner.as_ref(), body.product_id, body.quantity)
        .await?;
    Ok(with_token(HttpResponse::Ok(), change))
}

/// Set the quantity of a product in the cart.
#[utoipa::path(
    tag = "cart",
    params(("product_id" = String, Path, format = Uuid), ("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token")),
    request_body = SetQuantity,
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 404, description = "`not_found`: no cart, or the product is not in it", body = ErrorBody),
        (status = 409, description = "`insufficient_stock`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `quantity` (1 to 999)", body = ErrorBody),
    )
)]
#[put("/items/{product_id}")]
async fn update_item(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    token: CartToken,
    product: web::Path<ProductId>,
    body: web::Json<SetQuantity>,
) -> ApiResult<HttpResponse> {
    let owner = owner(user, token).ok_or_else(no_cart)?;
    let cart = state
        .commerce
        .set_cart_quantity(&owner, *product, body.quantity)
        .await?;
    Ok(HttpResponse::Ok().json(cart))
}

/// Take a product out of the cart.
#[utoipa::path(
    tag = "cart",
    params(("product_id" = String, Path, format = Uuid), ("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 404, description = "`not_found`: no cart, or the product is not in it", body = ErrorBody),
    )
)]
#[delete("/items/{product_id}")]
async fn remove_item(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    token: CartToken,
    product: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    let owner = owner(user, token).ok_or_else(no_cart)?;
    Ok(HttpResponse::Ok().json(state.commerce.remove_from_cart(&owner, *product).await?))
}

/// Move the guest cart named by `X-Cart-Token` into the signed-in user's
/// cart: quantities add up, capped at the stock available; the guest cart is gone.
#[utoipa::path(
    tag = "cart",
    params(("X-Cart-Token" = String, Header, description = "The guest cart's token")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 404, description = "`not_found`: no guest cart with this token", body = ErrorBody),
    )
)]
#[post("/merge")]
async fn merge(
    state: web::Data<AppState>,
    user: AuthUser,
    token: CartToken,
) -> ApiResult<HttpResponse> {
    let token = token
        .0
        .ok_or_else(|| ApiError::from(Error::NotFound { what: "guest cart" }))?;
    Ok(HttpResponse::Ok().json(state.commerce.merge_cart(user.id, &token).await?))
}

//! `/api/v1/products`: listing and search for everyone; sellers create,
//! change and delete their own; pictures are uploaded as multipart.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use blytz::Code;
use blytz::Error;
use blytz::catalog::{Image, NewProduct, Product, ProductPage, ProductQuery, ProductUpdate, media};
use blytz::ids::ProductId;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Map;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthUser, MaybeAuthUser, RequireRole, Seller};
use crate::limits::{Kind, LimitKey};
use crate::state::AppState;

/// Bytes of other parts (and multipart framing) tolerated beside the file.
const OTHER_PARTS_MAX: usize = 64 * 1024;

/// Register the product routes (under `/api/v1/products`).
pub fn configure(cfg: &mut ServiceConfig) {
    // `my-products` before `{id}`, so it is not read as an id.
    cfg.service(my_products)
        .service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove)
        .service(upload_image);
}

/// Search and list products: `active` ones unless `status` is given (drafts
/// and cancelled listings show only the caller's own). With `q`, the default
/// order is relevance, and a title match ranks above a description-only one.
#[utoipa::path(
    tag = "catalog",
    params(ProductQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = ProductPage),
        (status = 422, description = "`validation_failed`: e.g. `limit`, `max_price` below `min_price`, `relevance` without `q`, a foreign `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    query: web::Query<ProductQuery>,
) -> ApiResult<HttpResponse> {
    let page = state
        .catalog
        .list_products(user.0.as_ref().map(AuthUser::caller), query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The caller's own products, in every status unless `status` is given.
#[utoipa::path(
    tag = "catalog",
    params(ProductQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ProductPage),
        (status = 403, description = "`forbidden`: only sellers may do this", body = ErrorBody),
        (status = 422, description = "`validation_failed`: e.g. `limit`, `max_price` below `min_price`, `relevance` without `q`, a foreign `cursor`", body = ErrorBody),
    )
)]
#[get("/my-products")]
async fn my_products(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    query: web::Query<ProductQuery>,
) -> ApiResult<HttpResponse> {
    let page = state
        .catalog
        .my_products(seller.caller(), query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// List a product (sellers). It is a draft unless `"status":"active"`.
#[utoipa::path(
    tag = "catalog",
    request_body = NewProduct,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Product),
        (status = 403, description = "`forbidden`: only sellers may do this", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming the field (an unknown field too)", body = ErrorBody),
    )
)]
#[post("")]
async fn create(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    body: web::Json<NewProduct>,
) -> ApiResult<HttpResponse> {
    let product = state
        .catalog
        .create_product(seller.caller(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(product))
}

/// One product. Drafts and cancelled listings are visible only to their
/// seller and admins; the reserve only to them too.
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, format = Uuid, description = "product id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Product),
        (status = 404, description = "`not_found`: no such product, or a draft or cancelled one of another seller", body = ErrorBody),
    )
)]
#[get("/{id}")]
async fn show(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    let product = state
        .catalog
        .product(user.0.as_ref().map(AuthUser::caller), id.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(product))
}

/// Change a product (its seller or an admin). Status changes must be legal
/// (409 `invalid_transition`); prices cannot change while an auction holds
/// the product (409 `product_in_auction`).
#[utoipa::path(
    tag = "catalog",
    request_body = ProductUpdate,
    params(("id" = String, Path, format = Uuid, description = "product id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Product),
        (status = 403, description = "`forbidden`: not the product's seller or an admin; only admins may feature", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition`, `product_in_auction` or `concurrent_update`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming the field (an unknown field too)", body = ErrorBody),
    )
)]
#[put("/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ProductId>,
    body: web::Json<ProductUpdate>,
) -> ApiResult<HttpResponse> {
    let product = state
        .catalog
        .update_product(user.caller(), id.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(product))
}

/// Delete a product (its seller or an admin); not while an auction holds it.
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, format = Uuid, description = "product id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "`forbidden`: not the product's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`product_in_auction` or `concurrent_update`", body = ErrorBody),
    )
)]
#[delete("/{id}")]
async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    state
        .catalog
        .delete_product(user.caller(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The answer of an upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImageUploaded {
    /// The stored picture, with its thumbnail.
    pub image: Image,
    /// The product with the picture added.
    pub product: Product,
}

/// The multipart body of an upload (documentation only).
#[derive(Debug, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "only describes the multipart body in the OpenAPI document"
)]
pub struct ImageUploadForm {
    /// A JPEG, PNG, GIF or WebP picture, at most `BLYTZ_MAX_IMAGE_BYTES`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a picture (multipart, part `file`). The type is read from the
/// bytes; the picture is re-encoded without metadata and gets a thumbnail.
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, format = Uuid, description = "product id")),
    request_body(content = ImageUploadForm, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, body = ImageUploaded),
        (status = 400, description = "`invalid_multipart`: the body is not a readable multipart/form-data upload", body = ErrorBody),
        (status = 403, description = "`forbidden`: not the product's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`concurrent_update`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: field `file`, rule `image_type`, `image_decode`, `max_dimensions`, `max_pixels`, `max_size` or `required`; field `images` when the product has the most pictures it may", body = ErrorBody),
        (status = 429, description = "`rate_limited`: more uploads than `BLYTZ_UPLOADS_PER_MIN` by this user, with `Retry-After`", body = ErrorBody),
    )
)]
#[post("/{id}/images")]
async fn upload_image(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ProductId>,
    req: HttpRequest,
    payload: Multipart,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let actor = user.caller();
    let max = state.catalog.media().max_bytes();
    // Refuse before reading the body: how often, who, which product, and a declared size.
    let checked = match state
        .limits
        .check(Kind::Uploads, LimitKey::User(actor.id))
        .await
    {
        Ok(()) => state.catalog.ensure_may_add_image(actor, id).await,
        Err(e) => Err(e),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let refusal = match checked {
        Err(e) => Some(e),
        Ok(()) if declared.is_some_and(|n| n > max.saturating_add(OTHER_PARTS_MAX)) => {
            Some(media::too_large(max))
        }
        Ok(()) => None,
    };
    if let Some(e) = refusal {
        discard(payload, max).await;
        return Err(e.into());
    }
    let file = read_file(payload, max).await?;
    let (image, product) = state.catalog.add_image(actor, id, file).await?;
    Ok(HttpResponse::Created().json(ImageUploaded { image, product }))
}

/// The part named `file`, refusing it as soon as it grows past `max` bytes
/// (the rest of the upload is read and dropped, never kept).
async fn read_file(mut payload: Multipart, max: usize) -> ApiResult<Bytes> {
    let mut other = 0usize;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(bad_multipart)?;
        let is_file = field.name() == Some("file");
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad_multipart)?;
            if is_file {
                if buf.len() + chunk.len() > max {
                    drop(field);
                    discard(payload, max).await;
                    return Err(media::too_large(max).into());
                }
                buf.extend_from_slice(&chunk);
            } else {
                other += chunk.len();
                if other > OTHER_PARTS_MAX {
                    drop(field);
                    discard(payload, max).await;
                    return Err(Error::validation(
                        "file",
                        "max_size",
                        "the upload has too much besides the file",
                    )
                    .into());
                }
            }
        }
        if is_file {
            return Ok(buf.freeze());
        }
    }
    Err(Error::validation(
        "file",
        "required",
        "send the picture in a multipart part named `file`",
    )
    .into())
}

/// Read and drop what is left of a refused upload (up to a bound), so the
/// client gets the refusal instead of a reset connection.
async fn discard(mut payload: Multipart, max: usize) {
    let budget = max.saturating_mul(4).max(16 * 1024 * 1024);
    let mut seen = 0usize;
    while let Some(Ok(mut field)) = payload.next().await {
        while let Some(Ok(chunk)) = field.next().await {
            seen += chunk.len();
            if seen > budget {
                return;
            }
        }
    }
}

fn bad_multipart(e: actix_multipart::MultipartError) -> ApiError {
    ApiError::Request {
        code: Code::InvalidMultipart,
        message: format!("the body is not a readable multipart/form-data upload: {e}"),
        details: Map::new(),
    }
}

//! `/api/v1/bundles`: one buyer's purchases from one seller in one show,
//! shipped as one parcel; and `/api/v1/second-chance-offers`, a lapsed
//! winner's lot offered to its runner-up.

use actix_web::{HttpResponse, get, post, web};
use blytz::commerce::bundles::{Bundle, ShipBundleInput};
use blytz::commerce::second_chance::SecondChanceOffer;
use blytz::pagination::{Page, Paged};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the bundle routes (under `/api/v1/bundles`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(get_one)
        .service(ship)
        .service(cancel_shipment)
        .service(label);
}

/// Register the offer routes (under `/api/v1/second-chance-offers`).
pub fn configure_offers(cfg: &mut ServiceConfig) {
    cfg.service(offers).service(accept).service(decline);
}

/// `GET /bundles` filter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BundleFilter {
    /// `buyer` (what the caller bought, default) or `seller` (what they ship).
    pub view: Option<String>,
}

/// The caller's bundles, newest first.
#[utoipa::path(
    tag = "bundles",
    params(BundleFilter, Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<Bundle>),
        (status = 422, description = "`validation_failed`: `view`, `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    filter: web::Query<BundleFilter>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let seller = match filter.view.as_deref() {
        None | Some("buyer") => false,
        Some("seller") => true,
        Some(_) => {
            return Err(
                blytz::Error::validation("view", "one_of", "must be buyer or seller").into(),
            );
        }
    };
    Ok(HttpResponse::Ok().json(state.commerce.bundles(user.caller(), seller, &page).await?))
}

/// One bundle with its orders: its buyer, its seller or an admin.
#[utoipa::path(
    tag = "bundles",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Bundle),
        (status = 404, description = "`not_found`: no such bundle, or not the caller's to see", body = ErrorBody),
    )
)]
#[get("/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.bundle(user.caller(), *id).await?))
}

/// The seller ships a bundle: every paid order in it leaves in one parcel
/// under one tracking number, typed by hand (`carrier`, `tracking_number`)
/// or booked with the configured carrier (`"carrier": "ninjavan"`).
#[utoipa::path(
    tag = "bundles",
    params(("id" = String, Path, format = Uuid)),
    request_body = ShipBundleInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Bundle),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such bundle, or not the caller's to see", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: shipped already, or nothing in it is paid; `carrier_refused`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: carrier, tracking number or a missing address", body = ErrorBody),
        (status = 503, description = "`carrier_not_configured`; `carrier_unavailable`", body = ErrorBody),
    )
)]
#[post("/{id}/ship")]
async fn ship(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ShipBundleInput>,
) -> ApiResult<HttpResponse> {
    let bundle = state
        .commerce
        .ship_bundle(user.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// Call a booked delivery off before pickup: the bundle is open again.
#[utoipa::path(
    tag = "bundles",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Bundle),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such bundle, or not the caller's to see", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: not a booked, undelivered bundle; `carrier_refused`", body = ErrorBody),
        (status = 503, description = "`carrier_not_configured`; `carrier_unavailable`", body = ErrorBody),
    )
)]
#[post("/{id}/cancel-shipment")]
async fn cancel_shipment(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let bundle = state
        .commerce
        .cancel_bundle_shipment(user.caller(), *id)
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// The carrier's label (PDF) of a booked bundle: its seller or an admin.
#[utoipa::path(
    tag = "bundles",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The label", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such bundle, or no booked delivery", body = ErrorBody),
        (status = 503, description = "`carrier_not_configured`; `carrier_unavailable`", body = ErrorBody),
    )
)]
#[get("/{id}/label")]
async fn label(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let pdf = state.commerce.bundle_label(user.caller(), *id).await?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}

/// Second-chance offers made to the caller, newest first.
#[utoipa::path(
    tag = "orders",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<SecondChanceOffer>),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn offers(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        state
            .commerce
            .second_chance_offers(user.caller(), &page)
            .await?,
    ))
}

/// The runner-up accepts: their order is made and charged to their default card.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SecondChanceOffer),
        (status = 403, description = "`forbidden`: only the runner-up", body = ErrorBody),
        (status = 404, description = "`not_found`: no such offer, or not the caller's", body = ErrorBody),
        (status = 409, description = "`offer_closed`: answered or expired; `out_of_stock`", body = ErrorBody),
    )
)]
#[post("/{id}/accept")]
async fn accept(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        state
            .commerce
            .accept_second_chance(user.caller(), *id)
            .await?,
    ))
}

/// The runner-up declines.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SecondChanceOffer),
        (status = 403, description = "`forbidden`: only the runner-up", body = ErrorBody),
        (status = 404, description = "`not_found`: no such offer, or not the caller's", body = ErrorBody),
        (status = 409, description = "`offer_closed`: answered or expired", body = ErrorBody),
    )
)]
#[post("/{id}/decline")]
async fn decline(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        state
            .commerce
            .decline_second_chance(user.caller(), *id)
            .await?,
    ))
}

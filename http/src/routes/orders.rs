//! `/api/v1/orders`: checkout, lists (purchases, sales, or all for admins),
//! and the order's life: cancel, mark-paid (manual gateway), process, ship,
//! deliver, refund (in full or in part), pay with a saved card, the label of
//! its bundle, and a second chance for a lapsed winner's lot. A checkout with
//! items from several sellers makes one order per seller.

use actix_web::{HttpResponse, get, post, web};
use blytz::commerce::Order;
use blytz::commerce::charge::PayInput;
use blytz::commerce::orders::{CheckoutInput, OrderView};
use blytz::commerce::second_chance::SecondChanceOffer;
use blytz::commerce::shipping::ShipInput;
use blytz::pagination::{Page, Paged};
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthUser;
use crate::state::AppState;

/// Register the order routes (under `/api/v1/orders`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(checkout)
        .service(list)
        .service(get_one)
        .service(cancel)
        .service(mark_paid)
        .service(process)
        .service(ship)
        .service(deliver)
        .service(refund)
        .service(pay)
        .service(second_chance)
        .service(label);
}

/// What a checkout made: one order per seller (and currency).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckoutResult {
    /// The orders, each `pending_payment` with its stock reserved until `payment_due_at`.
    pub orders: Vec<Order>,
}

/// `GET /orders` filter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OrderFilter {
    /// `buyer` (the caller's purchases, default), `seller` (their sales) or `all` (admins).
    #[param(value_type = Option<OrderView>)]
    pub view: Option<OrderView>,
}

/// Check the caller's cart out to a shipping address: stock is reserved
/// until the payment is due; 409 `out_of_stock` names the short product.
#[utoipa::path(
    tag = "orders",
    request_body = CheckoutInput,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CheckoutResult),
        (status = 404, description = "`not_found`: no such address of the caller's", body = ErrorBody),
        (status = 409, description = "`out_of_stock`, `cart_empty`, `product_unavailable`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `shipping_address_id` must be a shipping address; `amount_too_large`", body = ErrorBody),
    )
)]
#[post("")]
async fn checkout(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CheckoutInput>,
) -> ApiResult<HttpResponse> {
    let orders = state.commerce.checkout(user.id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(CheckoutResult { orders }))
}

/// Orders, newest first: purchases, sales, or (admins) all.
#[utoipa::path(
    tag = "orders",
    params(OrderFilter, Page),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Paged<Order>),
        (status = 403, description = "`forbidden`: `view=all` is for admins", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `view`, `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    filter: web::Query<OrderFilter>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let view = filter.view.unwrap_or_default();
    Ok(HttpResponse::Ok().json(state.commerce.orders(user.caller(), view, &page).await?))
}

/// One order, with its items and shipment tracking: its buyer, seller or an admin.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 404, description = "`not_found`: no such order, or not the caller's to see", body = ErrorBody),
    )
)]
#[get("/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.commerce.order(user.caller(), *id).await?))
}

/// Declares an order command: `POST /orders/{id}/<action>` answering the order.
macro_rules! order_command {
    ($name:ident, $path:literal, $summary:literal, [$($answers:tt)*], |$state:ident, $actor:ident, $id:ident| $call:expr) => {
        #[doc = $summary]
        #[utoipa::path(
            tag = "orders",
            params(("id" = String, Path, format = Uuid)),
            security(("bearer" = [])),
            responses(
                (status = 200, body = Order),
                (status = 404, description = "`not_found`: no such order, or not the caller's to see", body = ErrorBody),
                $($answers)*
            )
        )]
        #[post($path)]
        async fn $name(
            $state: web::Data<AppState>,
            user: AuthUser,
            $id: web::Path<Uuid>,
        ) -> ApiResult<HttpResponse> {
            let $actor = user.caller();
            let $id = *$id;
            Ok(HttpResponse::Ok().json($call.await?))
        }
    };
}

order_command!(
    cancel,
    "/{id}/cancel",
    "Call off an unpaid order (buyer, seller or admin); its stock goes back on sale.",
    [(
        status = 409,
        description = "`invalid_transition`",
        body = ErrorBody
    )],
    |state, a, id| state.commerce.cancel_order(a, id)
);
order_command!(
    mark_paid,
    "/{id}/mark-paid",
    "Manual gateway only: the seller or an admin records the payment.",
    [
        (
            status = 403,
            description = "`forbidden`: only the seller or an admin",
            body = ErrorBody
        ),
        (
            status = 409,
            description = "`invalid_transition`, `manual_payments_disabled`",
            body = ErrorBody
        ),
    ],
    |state, a, id| state.commerce.mark_paid(a, id)
);
order_command!(
    process,
    "/{id}/process",
    "The seller or an admin starts preparing a paid order.",
    [
        (
            status = 403,
            description = "`forbidden`: only the seller or an admin",
            body = ErrorBody
        ),
        (
            status = 409,
            description = "`invalid_transition`",
            body = ErrorBody
        ),
    ],
    |state, a, id| state.commerce.start_processing(a, id)
);
order_command!(
    deliver,
    "/{id}/deliver",
    "The seller or an admin records that a shipped order arrived.",
    [
        (
            status = 403,
            description = "`forbidden`: only the seller or an admin",
            body = ErrorBody
        ),
        (
            status = 409,
            description = "`invalid_transition`",
            body = ErrorBody
        ),
    ],
    |state, a, id| state.commerce.deliver_order(a, id)
);
/// `POST /orders/{id}/refund` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RefundParams {
    /// Refund only this much (minor units); without it, all that is left.
    pub amount: Option<i64>,
}

/// The seller or an admin refunds a paid order through the gateway, in full
/// or in part (`?amount=`); a seller already paid out gives that much back.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid), RefundParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such order, or not the caller's to see", body = ErrorBody),
        (status = 409, description = "`invalid_transition`; `payment_refused` by the gateway", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `amount` is not between 1 and what is left", body = ErrorBody),
        (status = 503, description = "`payment_gateway_unavailable`: retry", body = ErrorBody),
    )
)]
#[post("/{id}/refund")]
async fn refund(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    params: web::Query<RefundParams>,
) -> ApiResult<HttpResponse> {
    let order = state
        .commerce
        .refund_order(user.caller(), *id, params.amount)
        .await?;
    Ok(HttpResponse::Ok().json(order))
}

/// The buyer pays an unpaid or `payment_failed` order with one of their
/// saved cards, before its deadline.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    request_body = PayInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 402, description = "`payment_declined`: the card was declined (`details.reason`)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such order or card of the caller's", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: not awaiting payment; `payment_window_closed`: it lapsed", body = ErrorBody),
        (status = 503, description = "`payments_manual`; `payment_gateway_unavailable`", body = ErrorBody),
    )
)]
#[post("/{id}/pay")]
async fn pay(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<PayInput>,
) -> ApiResult<HttpResponse> {
    let order = state
        .commerce
        .pay_with_card(user.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(order))
}

/// The seller offers a lapsed winner's lot to the runner-up at the
/// runner-up's own highest bid.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 201, body = SecondChanceOffer),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such order, or not the caller's to see", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the order has not lapsed; `no_runner_up`; `already_exists`: offered before", body = ErrorBody),
    )
)]
#[post("/{id}/second-chance")]
async fn second_chance(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let offer = state
        .commerce
        .offer_second_chance(user.caller(), *id)
        .await?;
    Ok(HttpResponse::Created().json(offer))
}

/// The carrier's label (PDF) of the bundle an order ships in: its seller or an admin.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The label", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such order, or no booked delivery", body = ErrorBody),
        (status = 503, description = "`carrier_not_configured`; `carrier_unavailable`", body = ErrorBody),
    )
)]
#[get("/{id}/label")]
async fn label(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let pdf = state.commerce.order_label(user.caller(), *id).await?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}

/// The seller (or an admin) hands a paid order to a carrier: the buyer sees
/// the carrier, tracking number and history on the order.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, format = Uuid)),
    request_body = ShipInput,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 403, description = "`forbidden`: only the seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such order, or not the caller's to see", body = ErrorBody),
        (status = 409, description = "`invalid_transition`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `carrier` or `tracking_number`", body = ErrorBody),
    )
)]
#[post("/{id}/ship")]
async fn ship(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ShipInput>,
) -> ApiResult<HttpResponse> {
    let order = state
        .commerce
        .ship_order(user.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(order))
}

//! What commerce answers: orders, carts, addresses, stock and shipments.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Where an order is in its life.
///
/// `pending_payment -> paid -> processing -> shipped -> delivered`;
/// `cancelled` only before payment; `refunded` only after it. A winner's
/// automatic charge that fails makes it `payment_failed`, which is paid with
/// another card before its deadline or becomes `lapsed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for the buyer's payment.
    PendingPayment,
    /// The automatic charge failed: the buyer may pay with another card
    /// until `payment_retry_until`.
    PaymentFailed,
    /// Not paid in time: the seller may offer the lot to the runner-up.
    Lapsed,
    /// Paid; the seller prepares it.
    Paid,
    /// Being prepared.
    Processing,
    /// Handed to a carrier.
    Shipped,
    /// Arrived.
    Delivered,
    /// Called off before payment.
    Cancelled,
    /// Paid back.
    Refunded,
}

impl OrderStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::PaymentFailed => "payment_failed",
            Self::Lapsed => "lapsed",
            Self::Paid => "paid",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending_payment" => Self::PendingPayment,
            "payment_failed" => Self::PaymentFailed,
            "lapsed" => Self::Lapsed,
            "paid" => Self::Paid,
            "processing" => Self::Processing,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }

    /// Whether an order may move from `self` to `to`.
    pub fn can_become(self, to: Self) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (PendingPayment, Paid | Cancelled | PaymentFailed)
                | (PaymentFailed, Paid | Lapsed)
                | (Paid, Processing | Shipped | Refunded)
                | (Processing, Shipped | Refunded)
                | (Shipped, Delivered | Refunded)
                | (Delivered, Refunded)
        )
    }

    /// Every status that may move to `to`.
    pub fn sources_of(to: Self) -> Vec<Self> {
        use OrderStatus::*;
        [
            PendingPayment,
            PaymentFailed,
            Lapsed,
            Paid,
            Processing,
            Shipped,
            Delivered,
            Cancelled,
            Refunded,
        ]
        .into_iter()
        .filter(|from| from.can_become(to))
        .collect()
    }
}

/// One line of an order: the product's title and price when it was ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderItem {
    /// The product.
    pub product_id: Uuid,
    /// Its title then.
    pub title: String,
    /// Its price then (minor units).
    pub unit_price: i64,
    /// How many.
    pub quantity: i64,
    /// `unit_price * quantity`.
    pub line_total: i64,
}

/// One step of a shipment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShipmentEvent {
    /// e.g. `shipped`, `delivered`.
    pub status: String,
    /// A note, if any.
    pub note: Option<String>,
    /// When.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub at: DateTime<Utc>,
}

/// The parcel of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shipment {
    /// The shipping provider that registered it (`manual`).
    pub provider: String,
    /// The carrier, e.g. `UPS`.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// Where to follow it, when known.
    pub tracking_url: Option<String>,
    /// `shipped` or `delivered`.
    pub status: String,
    /// Every status it went through, oldest first.
    pub history: Vec<ShipmentEvent>,
}

/// An order: one buyer paying one seller.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Order {
    /// The order.
    pub id: Uuid,
    /// Who pays.
    pub buyer_id: Uuid,
    /// Who is paid and ships.
    pub seller_id: Uuid,
    /// The auction it was won in, for a winner's order.
    pub auction_id: Option<Uuid>,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// ISO 4217.
    pub currency: String,
    /// Sum of the items (minor units).
    pub subtotal: i64,
    /// Tax on the subtotal.
    pub tax: i64,
    /// Shipping.
    pub shipping: i64,
    /// What the buyer pays.
    pub total: i64,
    /// A copy of the shipping address at checkout, when there is one.
    #[schema(value_type = Option<Object>)]
    pub shipping_address: Option<Value>,
    /// Pay by then, or a checkout's stock is released and the order cancelled.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub payment_due_at: DateTime<Utc>,
    /// The lines.
    pub items: Vec<OrderItem>,
    /// The parcel, once shipped.
    pub shipment: Option<Shipment>,
    /// The show it was bought in, if any.
    pub show_id: Option<Uuid>,
    /// The bundle it ships in (one buyer, one seller, one show), if any.
    pub bundle_id: Option<Uuid>,
    /// For a second-chance order: the lapsed winner's order it replaces.
    pub second_chance_of: Option<Uuid>,
    /// Why the last automatic charge failed, for a `payment_failed` order.
    pub payment_failure: Option<String>,
    /// Until when a `payment_failed` order may be paid with another card
    /// (null while its show is live: until the show ends plus 24 hours).
    #[serde(with = "crate::time::rfc3339_ms::option")]
    pub payment_retry_until: Option<DateTime<Utc>>,
    /// What the platform keeps of the total (minor units).
    pub platform_fee: i64,
    /// What was paid back so far (minor units); equal to the total once `refunded`.
    pub refunded: i64,
    /// When it was made.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub updated_at: DateTime<Utc>,
}

/// One line of a cart, priced at the product's buy-now price today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CartItem {
    /// The product.
    pub product_id: Uuid,
    /// Its seller.
    pub seller_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its buy-now price (minor units).
    pub unit_price: i64,
    /// ISO 4217.
    pub currency: String,
    /// How many.
    pub quantity: i64,
    /// `unit_price * quantity`.
    pub line_total: i64,
}

/// The sum of a cart's lines in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CartSubtotal {
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
}

/// A cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cart {
    /// The lines, oldest first.
    pub items: Vec<CartItem>,
    /// One subtotal per currency.
    pub subtotals: Vec<CartSubtotal>,
    /// When the cart is forgotten unless it changes (null for an empty, unsaved cart).
    #[serde(with = "crate::time::rfc3339_ms::option")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A postal address of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Address {
    /// The address.
    pub id: Uuid,
    /// `shipping` or `billing`.
    #[serde(rename = "type")]
    pub kind: String,
    /// e.g. `Home`.
    pub label: Option<String>,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Street and number.
    pub address_line1: String,
    /// Flat, floor, ...
    pub address_line2: Option<String>,
    /// City.
    pub city: String,
    /// State or region.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Phone.
    pub phone: Option<String>,
    /// The default of its type.
    pub is_default: bool,
    /// When it was made.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub updated_at: DateTime<Utc>,
}

/// Stock of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StockLevel {
    /// The product.
    pub product_id: Uuid,
    /// Its seller.
    pub seller_id: Uuid,
    /// Units on hand.
    pub quantity: i64,
    /// Units held by unpaid checkouts.
    pub reserved: i64,
    /// `quantity - reserved`.
    pub available: i64,
    /// At or below this many available units, the product is low on stock.
    pub low_stock_threshold: i64,
    /// When it last changed.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn the_status_machine() {
        assert!(PendingPayment.can_become(Paid));
        assert!(PendingPayment.can_become(Cancelled));
        assert!(!PendingPayment.can_become(Shipped));
        assert!(!PendingPayment.can_become(Refunded));
        assert!(!Paid.can_become(Cancelled));
        assert!(Shipped.can_become(Delivered));
        assert!(!Delivered.can_become(Shipped));
        assert!(!Cancelled.can_become(Paid));
        assert_eq!(
            OrderStatus::sources_of(Refunded),
            vec![Paid, Processing, Shipped, Delivered]
        );
        assert!(PaymentFailed.can_become(Paid));
        assert!(PaymentFailed.can_become(Lapsed));
        assert!(!Lapsed.can_become(Paid));
        assert_eq!(
            OrderStatus::sources_of(Paid),
            vec![PendingPayment, PaymentFailed]
        );
        for s in [
            PendingPayment,
            PaymentFailed,
            Lapsed,
            Paid,
            Processing,
            Shipped,
            Delivered,
            Cancelled,
            Refunded,
        ] {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }
}

//! Commerce: what is won or bought is paid for and shipped.
//!
//! One service, [`Commerce`], split by idea: [`inventory`] (stock and
//! reservations that expire), [`cart`] (guest and user carts), [`addresses`],
//! [`orders`] (checkout, the status machine, lists), [`payments`] (a gateway
//! trait with Stripe and manual gateways, and Stripe webhooks), [`shipping`]
//! (a provider trait with a manual provider) and [`outbox`] (the consumer
//! that turns every won auction into the winner's order, exactly once).
//!
//! Amounts are [`Money`] (minor units and a currency, checked arithmetic)
//! inside the services and integer minor units beside a `currency` field on
//! the wire and in the tables; tax is basis points with integer rounding.

pub mod addresses;
pub mod cart;
pub mod inventory;
mod model;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod shipping;
mod validate;

use crate::Code;
use std::sync::Arc;
use std::time::Duration;

use blytz_actors::domain::{Currency, Money, MoneyError};
use chrono::{DateTime, Utc};

pub use model::{
    Address, Cart, CartItem, CartSubtotal, Order, OrderItem, OrderStatus, Shipment, ShipmentEvent,
    StockLevel,
};
pub use payments::{PaymentGateway, PaymentIntentInfo};
pub use shipping::ShippingProvider;

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};

pub use crate::accounts::Caller;

/// The money and time rules of commerce, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommerceSettings {
    /// Tax on the subtotal, in basis points (1 % = 100).
    pub tax_rate_bps: u32,
    /// Flat shipping per order, minor units.
    pub shipping_flat_minor: i64,
    /// How long a winner has to pay for an auction order.
    pub payment_due: Duration,
    /// How long a checkout holds stock before it is released.
    pub reservation_ttl: Duration,
    /// How long an untouched cart lives.
    pub cart_ttl: Duration,
}

impl Default for CommerceSettings {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

impl CommerceSettings {
    /// The settings in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            tax_rate_bps: config.tax_rate_bps,
            shipping_flat_minor: config.shipping_flat_minor,
            payment_due: Duration::from_secs(config.payment_due_secs),
            reservation_ttl: Duration::from_secs(config.reservation_ttl_secs),
            cart_ttl: Duration::from_secs(config.cart_ttl_secs),
        }
    }

    /// Tax on `subtotal`, rounded half up to a whole minor unit.
    pub fn tax_on(&self, subtotal: Money) -> Result<Money> {
        let tax = (i128::from(subtotal.minor) * i128::from(self.tax_rate_bps) + 5_000) / 10_000;
        i64::try_from(tax)
            .map(|minor| Money::new(minor, subtotal.currency))
            .map_err(|_| amount_too_large())
    }

    /// What an order of `subtotal` costs: tax, flat shipping and the total.
    pub fn order_amounts(&self, subtotal: Money) -> Result<OrderAmounts> {
        let tax = self.tax_on(subtotal)?;
        let shipping = Money::new(self.shipping_flat_minor, subtotal.currency);
        let total = subtotal.checked_add(tax)?.checked_add(shipping)?;
        Ok(OrderAmounts {
            subtotal,
            tax,
            shipping,
            total,
        })
    }
}

/// The amounts of an order, all in its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderAmounts {
    /// The sum of the items.
    pub subtotal: Money,
    /// Tax on the subtotal.
    pub tax: Money,
    /// Shipping.
    pub shipping: Money,
    /// What the buyer pays: subtotal, tax and shipping.
    pub total: Money,
}

impl OrderAmounts {
    /// The currency of every amount.
    pub fn currency(&self) -> Currency {
        self.total.currency
    }
}

/// `now + d`, saturating far in the future.
pub(crate) fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn amount_too_large() -> Error {
    Error::Refused {
        code: Code::AmountTooLarge,
        message: "the amount is too large".into(),
        details: Default::default(),
    }
}

impl From<MoneyError> for Error {
    fn from(e: MoneyError) -> Self {
        match e {
            MoneyError::Overflow => amount_too_large(),
            // Amounts are grouped by currency before they are added: a
            // mismatch is a bug, not a request to refuse.
            MoneyError::CurrencyMismatch(..) => Error::Internal(anyhow::Error::from(e)),
        }
    }
}

/// A currency code read from a table (written only after validation).
pub(crate) fn stored_currency(code: &str) -> Result<Currency> {
    code.parse()
        .map_err(|e: blytz_actors::domain::InvalidCurrency| Error::Internal(e.into()))
}

/// Carts, stock, addresses, orders, payments and shipments.
#[derive(Debug, Clone)]
pub struct Commerce {
    db: Db,
    settings: CommerceSettings,
    gateway: Arc<dyn PaymentGateway>,
    shipping: Arc<dyn ShippingProvider>,
    webhook_secret: Option<secrecy::SecretString>,
    /// Wakes the outbox consumer early (e.g. right after an auction ends).
    nudge: Arc<tokio::sync::Notify>,
}

impl Commerce {
    /// The service over `db` with the given gateway and shipping provider.
    /// `webhook_secret` verifies Stripe webhooks (none: they are refused).
    pub fn new(
        db: Db,
        settings: CommerceSettings,
        gateway: Arc<dyn PaymentGateway>,
        shipping: Arc<dyn ShippingProvider>,
        webhook_secret: Option<secrecy::SecretString>,
    ) -> Self {
        Self {
            db,
            settings,
            gateway,
            shipping,
            webhook_secret,
            nudge: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The service as `config` describes it: Stripe when `STRIPE_SECRET_KEY`
    /// is set, else the manual gateway; the manual shipping provider.
    pub fn from_config(db: Db, config: &Config) -> anyhow::Result<Self> {
        let gateway: Arc<dyn PaymentGateway> = match &config.stripe_secret_key {
            Some(key) => Arc::new(payments::stripe::StripeGateway::new(
                key,
                config.stripe_api_base.as_deref(),
            )?),
            None => Arc::new(payments::manual::ManualGateway),
        };
        Ok(Self::new(
            db,
            CommerceSettings::from_config(config),
            gateway,
            Arc::new(shipping::ManualShipping),
            config.stripe_webhook_secret.clone(),
        ))
    }

    /// The settings in force.
    pub fn settings(&self) -> &CommerceSettings {
        &self.settings
    }

    /// The name of the payment gateway (`stripe` or `manual`).
    pub fn gateway_name(&self) -> &'static str {
        self.gateway.name()
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Wake the outbox consumer now instead of at its next poll.
    pub fn nudge_outbox(&self) {
        self.nudge.notify_one();
    }
}

/// The statuses of an auction that holds its product.
const OPEN_AUCTION: &str = "('scheduled', 'live', 'paused')";

/// Whether a scheduled, live or paused auction holds `product`: it is sold
/// there, not through a cart.
async fn held_by_auction(db: &crate::db::Db, product: uuid::Uuid) -> Result<bool> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM auctions WHERE product_id = $1 AND status IN {OPEN_AUCTION})"
    ));
    Ok(
        crate::with_db!(db, pool => sqlx::query_scalar::<_, bool>(sql)
        .bind(product)
        .fetch_one(pool)
        .await)?,
    )
}

/// 409 `product_in_auction` for `product`.
fn in_auction(product: uuid::Uuid) -> Error {
    Error::refused(
        Code::ProductInAuction,
        "an auction holds this product: it is sold there, not through a cart",
    )
    .with_detail("product_id", product.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_up_in_basis_points() {
        let usd = |minor| Money::new(minor, Currency::USD);
        let s = CommerceSettings {
            tax_rate_bps: 825,
            ..CommerceSettings::default()
        };
        assert_eq!(s.tax_on(usd(1000)).unwrap().minor, 83); // 82.5 -> 83
        assert_eq!(s.tax_on(usd(999)).unwrap().minor, 82); // 82.4175 -> 82
        assert_eq!(s.tax_on(usd(0)).unwrap().minor, 0);
        let none = CommerceSettings {
            tax_rate_bps: 0,
            ..CommerceSettings::default()
        };
        assert_eq!(none.tax_on(usd(i64::MAX)).unwrap().minor, 0);
    }

    #[test]
    fn order_amounts_add_up_or_refuse_to_overflow() {
        let usd = |minor| Money::new(minor, Currency::USD);
        let s = CommerceSettings {
            tax_rate_bps: 1000,
            shipping_flat_minor: 500,
            ..CommerceSettings::default()
        };
        let amounts = s.order_amounts(usd(2000)).unwrap();
        assert_eq!(amounts.tax, usd(200));
        assert_eq!(amounts.shipping, usd(500));
        assert_eq!(amounts.total, usd(2700));
        assert_eq!(amounts.currency(), Currency::USD);
        let err = s.order_amounts(usd(i64::MAX - 100)).unwrap_err();
        assert_eq!(err.code(), Code::AmountTooLarge);
    }
}

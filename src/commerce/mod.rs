//! Commerce: what is won or bought is paid for and shipped.
//!
//! One service, [`Commerce`], split by idea: [`inventory`] (stock and
//! reservations that expire), [`cart`] (guest and user carts), [`addresses`],
//! [`orders`] (checkout, the status machine, lists), [`payments`] (a gateway
//! trait with Stripe and manual gateways, and Stripe webhooks), [`shipping`]
//! (a provider trait with a manual provider), [`outbox`] (the consumer
//! that turns every won auction into the winner's order, exactly once) and
//! [`lot_orders`] (the orders of a show's giveaways and flash sales).
//!
//! Amounts are [`Money`] (minor units and a currency, checked arithmetic)
//! inside the services and integer minor units beside a `currency` field on
//! the wire and in the tables; tax is basis points with integer rounding.

pub mod addresses;
pub mod bundles;
pub mod cards;
pub mod cart;
pub mod charge;
pub mod inventory;
pub mod lot_orders;
mod model;
mod notices;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod payouts;
pub mod second_chance;
pub mod shipping;
mod validate;

use crate::Code;
use std::sync::Arc;
use std::time::Duration;

use blytz_actors::domain::{Currency, Money, MoneyError};
use uuid::Uuid;

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
    /// What the platform keeps of each paid order, in basis points.
    pub platform_fee_bps: u32,
    /// How long a failed automatic charge may be retried (none: until the
    /// show ends plus [`SHOW_GRACE`]).
    pub payment_retry: Option<Duration>,
    /// How long a runner-up has to answer a second-chance offer.
    pub second_chance: Duration,
    /// How long after a show ends purchases still join its bundles.
    pub bundle_window: Duration,
    /// Pay a seller this long after shipping without a delivery report
    /// (none: only after delivery).
    pub payout_after_shipping: Option<Duration>,
    /// Whether a bid needs a card on file where neither the auction nor its
    /// show says (only with a gateway that charges cards).
    pub require_card_by_default: bool,
}

/// How long after its show ends a failed charge may still be paid, unless
/// `BLYTZ_PAYMENT_RETRY_SECS` says otherwise.
pub const SHOW_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

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
            platform_fee_bps: config.platform_fee_bps.min(10_000),
            payment_retry: config.payment_retry_secs.map(Duration::from_secs),
            second_chance: Duration::from_secs(config.second_chance_secs),
            bundle_window: Duration::from_secs(config.bundle_window_secs),
            payout_after_shipping: config
                .payout_after_shipping_days
                .map(|days| Duration::from_secs(days.saturating_mul(86_400))),
            require_card_by_default: config.require_card_to_bid.unwrap_or(true),
        }
    }

    /// Tax on `subtotal`, rounded half up to a whole minor unit.
    pub fn tax_on(&self, subtotal: Money) -> Result<Money> {
        basis_points(subtotal, self.tax_rate_bps)
    }

    /// What the platform keeps of an order of `total`, rounded half up.
    pub fn platform_fee_on(&self, total: Money) -> Result<Money> {
        basis_points(total, self.platform_fee_bps)
    }

    /// What an order of `subtotal` costs: tax, flat shipping and the total.
    pub fn order_amounts(&self, subtotal: Money) -> Result<OrderAmounts> {
        self.order_amounts_shipped(
            subtotal,
            Money::new(self.shipping_flat_minor, subtotal.currency),
        )
    }

    /// What an order of `subtotal` costs with `shipping`: tax and the total.
    pub fn order_amounts_shipped(&self, subtotal: Money, shipping: Money) -> Result<OrderAmounts> {
        let tax = self.tax_on(subtotal)?;
        let total = subtotal.checked_add(tax)?.checked_add(shipping)?;
        Ok(OrderAmounts {
            subtotal,
            tax,
            shipping,
            total,
        })
    }
}

/// `bps` basis points of `amount`, rounded half up to a whole minor unit.
fn basis_points(amount: Money, bps: u32) -> Result<Money> {
    let part = (i128::from(amount.minor) * i128::from(bps) + 5_000) / 10_000;
    i64::try_from(part)
        .map(|minor| Money::new(minor, amount.currency))
        .map_err(|_| amount_too_large())
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

pub(crate) use crate::time::later;

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
    /// The bid path's cached answers about cards on file.
    bid_checks: cards::SharedBidChecks,
    /// Where a buyer's personal frames go (`order.payment_failed`, ...): the
    /// rooms of their open WebSockets. None: nobody is told live.
    rooms: Option<blytz_actors::rooms::Rooms>,
    /// The carrier booked deliveries go to (Ninja Van), if configured.
    carrier: Option<Arc<dyn shipping::Carrier>>,
    /// Where people reach this server (onboarding return links).
    public_url: Arc<str>,
    /// Where buyers' notices are written (won, payment failed, shipped,
    /// second chance). None: only their open sockets are told.
    notifications: Option<crate::notify::Notifications>,
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
            bid_checks: cards::SharedBidChecks::default(),
            rooms: None,
            carrier: None,
            public_url: Arc::from("http://127.0.0.1:8080"),
            notifications: None,
        }
    }

    /// The same service, telling buyers live through `rooms`, and hearing
    /// there of cards changed at the other nodes of a cluster.
    #[must_use]
    pub fn with_rooms(mut self, rooms: blytz_actors::rooms::Rooms) -> Self {
        cards::hear_card_changes(&rooms, &self.bid_checks);
        self.rooms = Some(rooms);
        self
    }

    /// The same service, writing buyers' notices to `notifications`.
    #[must_use]
    pub fn with_notifications(mut self, notifications: crate::notify::Notifications) -> Self {
        self.notifications = Some(notifications);
        self
    }

    /// The same service, booking deliveries with `carrier`.
    #[must_use]
    pub fn with_carrier(mut self, carrier: Arc<dyn shipping::Carrier>) -> Self {
        self.carrier = Some(carrier);
        self
    }

    /// The same service, reached by people at `url`.
    #[must_use]
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = Arc::from(url.trim_end_matches('/'));
        self
    }

    /// Send `frame` to every open WebSocket of `user`.
    pub(crate) fn tell(&self, user: Uuid, frame: &serde_json::Value) {
        if let Some(rooms) = &self.rooms {
            let room = blytz_actors::rooms::RoomKey::User(blytz_actors::domain::UserId::from(user));
            rooms.publish(
                room,
                blytz_actors::rooms::Frame::new(None, bytes::Bytes::from(frame.to_string())),
            );
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
        let mut commerce = Self::new(
            db,
            CommerceSettings::from_config(config),
            gateway,
            Arc::new(shipping::ManualShipping),
            config.stripe_webhook_secret.clone(),
        )
        .with_public_url(&config.public_url);
        if let Some(carrier) = shipping::carrier_from_config(config)? {
            commerce = commerce.with_carrier(carrier);
        }
        Ok(commerce)
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

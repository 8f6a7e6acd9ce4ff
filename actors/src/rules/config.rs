//! The configuration of one auction, fixed when it is created.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Rejection;
use crate::domain::{
    AuctionId, Currency, IncrementTable, IncrementTier, MAX_AMOUNT, ProductId, ShowId, UserId,
};

/// The default anti-snipe window: a bid with less than this left extends.
pub const DEFAULT_SNIPE_WINDOW_MS: i64 = 10_000;
/// The default time left after an anti-snipe extension.
pub const DEFAULT_SNIPE_EXTEND_TO_MS: i64 = 10_000;
/// The longest an auction may run (30 days).
pub const MAX_DURATION_MS: i64 = 30 * 24 * 3_600_000;
/// The longest anti-snipe window or extension (1 hour).
pub const MAX_SNIPE_MS: i64 = 3_600_000;

/// How the clock treats late bids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TimerMode {
    /// A late bid resets the remaining time to `snipe_extend_to_ms`.
    #[default]
    Standard,
    /// The deadline never moves for bids.
    SuddenDeath,
}

/// Everything fixed about an auction; the `Created` event carries it whole,
/// so the journal alone rebuilds the auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionConfig {
    /// The auction.
    pub id: AuctionId,
    /// The seller who owns it.
    pub seller_id: UserId,
    /// The product put up.
    pub product_id: ProductId,
    /// The show it runs in, if any.
    pub show_id: Option<ShowId>,
    /// The currency of every amount.
    pub currency: Currency,
    /// The first minimum bid (minor units).
    pub start_price: i64,
    /// Hidden reserve (minor units): below it nobody wins.
    pub reserve_price: Option<i64>,
    /// Price at which a buyer may end the auction at once.
    pub buy_now_price: Option<i64>,
    /// Running time from start to deadline, in milliseconds.
    pub duration_ms: i64,
    /// Anti-snipe mode.
    pub mode: TimerMode,
    /// A bid with less than this left extends the deadline (standard mode).
    pub snipe_window_ms: i64,
    /// After an extension, this much time is left.
    pub snipe_extend_to_ms: i64,
    /// At most this many anti-snipe extensions (none: unlimited).
    pub max_extensions: Option<u32>,
    /// The deadline never moves past this instant.
    pub hard_close_at: Option<DateTime<Utc>>,
    /// Increment tiers.
    pub increments: IncrementTable,
    /// Whether a bid needs a card on file (none: the show's or the server's
    /// default). Checked before a bid reaches the engine; kept here so the
    /// auction's creation records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_payment_method: Option<bool>,
}

/// A request to create an auction: what a seller chooses. Missing optional
/// fields take the engine defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAuction {
    /// The product put up.
    pub product_id: ProductId,
    /// The show it runs in, if any.
    #[serde(default)]
    pub show_id: Option<ShowId>,
    /// The currency of every amount.
    pub currency: Currency,
    /// The first minimum bid (minor units).
    pub start_price: i64,
    /// Hidden reserve (minor units).
    #[serde(default)]
    pub reserve_price: Option<i64>,
    /// Buy-now price (minor units).
    #[serde(default)]
    pub buy_now_price: Option<i64>,
    /// Running time in milliseconds.
    pub duration_ms: i64,
    /// Anti-snipe mode (default `standard`).
    #[serde(default)]
    pub mode: TimerMode,
    /// Anti-snipe window (default 10 000 ms).
    #[serde(default)]
    pub snipe_window_ms: Option<i64>,
    /// Time left after an extension (default 10 000 ms).
    #[serde(default)]
    pub snipe_extend_to_ms: Option<i64>,
    /// Cap on anti-snipe extensions.
    #[serde(default)]
    pub max_extensions: Option<u32>,
    /// Absolute latest deadline.
    #[serde(default)]
    pub hard_close_at: Option<DateTime<Utc>>,
    /// Increment tiers (default: [`IncrementTable::default`]).
    #[serde(default)]
    pub increments: Option<Vec<IncrementTier>>,
    /// Whether a bid needs a card on file (default: the show's setting, else
    /// on when the server charges cards).
    #[serde(default)]
    pub require_payment_method: Option<bool>,
}

impl NewAuction {
    /// A minimal request: the rest takes defaults.
    #[must_use]
    pub fn new(
        product_id: ProductId,
        currency: Currency,
        start_price: i64,
        duration_ms: i64,
    ) -> Self {
        Self {
            product_id,
            show_id: None,
            currency,
            start_price,
            reserve_price: None,
            buy_now_price: None,
            duration_ms,
            mode: TimerMode::Standard,
            snipe_window_ms: None,
            snipe_extend_to_ms: None,
            max_extensions: None,
            hard_close_at: None,
            increments: None,
            require_payment_method: None,
        }
    }

    /// Fills the defaults and validates, giving the auction `id` and owner.
    ///
    /// # Errors
    /// [`Rejection::InvalidConfig`] when a price, duration or tier is invalid.
    pub fn into_config(self, id: AuctionId, seller_id: UserId) -> Result<AuctionConfig, Rejection> {
        let increments = match self.increments {
            Some(tiers) => IncrementTable::new(tiers).map_err(|e| invalid(e.to_string()))?,
            None => IncrementTable::default(),
        };
        let config = AuctionConfig {
            id,
            seller_id,
            product_id: self.product_id,
            show_id: self.show_id,
            currency: self.currency,
            start_price: self.start_price,
            reserve_price: self.reserve_price,
            buy_now_price: self.buy_now_price,
            duration_ms: self.duration_ms,
            mode: self.mode,
            snipe_window_ms: self.snipe_window_ms.unwrap_or(DEFAULT_SNIPE_WINDOW_MS),
            snipe_extend_to_ms: self
                .snipe_extend_to_ms
                .unwrap_or(DEFAULT_SNIPE_EXTEND_TO_MS),
            max_extensions: self.max_extensions,
            hard_close_at: self.hard_close_at,
            increments,
            require_payment_method: self.require_payment_method,
        };
        config.validate()?;
        Ok(config)
    }
}

fn invalid(reason: impl Into<String>) -> Rejection {
    Rejection::InvalidConfig {
        reason: reason.into(),
    }
}

impl AuctionConfig {
    /// Checks prices, durations and the anti-snipe settings.
    ///
    /// # Errors
    /// [`Rejection::InvalidConfig`] naming the first problem found.
    pub fn validate(&self) -> Result<(), Rejection> {
        let price_ok = |p: i64| (1..=MAX_AMOUNT).contains(&p);
        if !price_ok(self.start_price) {
            return Err(invalid(
                "start_price must be between 1 and 10^15 minor units",
            ));
        }
        if let Some(reserve) = self.reserve_price
            && (!price_ok(reserve) || reserve < self.start_price)
        {
            return Err(invalid("reserve_price must be at least start_price"));
        }
        if let Some(buy_now) = self.buy_now_price {
            if !price_ok(buy_now) || buy_now <= self.start_price {
                return Err(invalid("buy_now_price must be above start_price"));
            }
            if self.reserve_price.is_some_and(|r| buy_now < r) {
                return Err(invalid("buy_now_price must be at least reserve_price"));
            }
        }
        if !(1..=MAX_DURATION_MS).contains(&self.duration_ms) {
            return Err(invalid("duration_ms must be between 1 ms and 30 days"));
        }
        if !(0..=MAX_SNIPE_MS).contains(&self.snipe_window_ms)
            || !(0..=MAX_SNIPE_MS).contains(&self.snipe_extend_to_ms)
        {
            return Err(invalid(
                "snipe_window_ms and snipe_extend_to_ms must be between 0 and 1 hour",
            ));
        }
        Ok(())
    }
}

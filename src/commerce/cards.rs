//! Cards on file: a gateway customer per buyer (made on first need), a
//! setup intent the browser confirms to save a card, the card's brand, last
//! four digits and expiry read back from the gateway (never a number), a
//! default card, and whether a bid needs one.
//!
//! A card is stored when the gateway says its setup intent succeeded: by the
//! signed `setup_intent.succeeded` webhook, or when the browser asks for a
//! read-back right after confirming (`POST /payments/methods/confirm`);
//! either way the card is read back from the gateway and must belong to the
//! caller's customer. Both paths store it once (the gateway id is unique).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blytz_actors::domain::{AuctionId, ShowId, UserId};
use blytz_actors::rooms::{RoomKey, RoomNotice, Rooms};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::payments::CardInfo;
use super::{Caller, Commerce};
use crate::Code;
use crate::error::{Error, Result};
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// How long an answer to "does this bid need a card" and "does this buyer
/// have one" is reused before it is read again.
const BID_CHECK_TTL: Duration = Duration::from_secs(5);

/// A saved card as the buyer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PaymentMethod {
    /// Blytz's id of the card.
    pub id: Uuid,
    /// e.g. `visa`.
    pub brand: String,
    /// The last four digits.
    pub last4: String,
    /// 1 to 12.
    pub exp_month: i64,
    /// e.g. 2030.
    pub exp_year: i64,
    /// The card charged at the hammer.
    pub is_default: bool,
    /// When it was saved.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
}

/// What `POST /payments/methods/setup` answers: the browser confirms the
/// setup intent with Stripe.js and the card is saved.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardSetup {
    /// The setup intent, e.g. `seti_...`.
    pub setup_intent_id: String,
    /// What the browser confirms it with.
    pub client_secret: Option<String>,
    /// The buyer's customer at the gateway.
    pub customer_id: String,
}

/// `POST /payments/methods/confirm`: read a confirmed setup intent back.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ConfirmSetupInput {
    /// The setup intent the browser confirmed.
    pub setup_intent_id: String,
}

#[derive(Debug, sqlx::FromRow)]
struct MethodRow {
    id: Uuid,
    brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
    is_default: bool,
    created_at: DateTime<Utc>,
}

impl From<MethodRow> for PaymentMethod {
    fn from(r: MethodRow) -> Self {
        Self {
            id: r.id,
            brand: r.brand,
            last4: r.last4,
            exp_month: r.exp_month,
            exp_year: r.exp_year,
            is_default: r.is_default,
            created_at: r.created_at,
        }
    }
}

/// Answers to the bid path's card check, each for [`BID_CHECK_TTL`]: a
/// bid never waits on the database for them more than once in that time.
/// Only "has a card" is kept of a buyer, and a change of a buyer's cards
/// at any node of a cluster makes every node forget it (the node that made
/// it announces it in the buyer's room). A refused bid reads again.
#[derive(Debug, Default)]
pub(crate) struct BidCheckCache {
    /// Whether an auction needs a card, and when that was read.
    required: Mutex<HashMap<AuctionId, (bool, Instant)>>,
    /// Buyers found to have a card, and when.
    has_card: Mutex<HashMap<UserId, Instant>>,
    /// Counts the buyers' card changes heard: a read of the store that one
    /// overtook is not kept (it may have read the cards from before it).
    changes: AtomicU64,
}

/// How many answers of a kind are kept before those past their time go.
const KEPT_AT_MOST: usize = 100_000;

fn fresh(at: Instant) -> bool {
    at.elapsed() < BID_CHECK_TTL
}

fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drops the answers past their time (`at` says when each was read) once
/// `map` holds many.
fn prune<K, V>(map: &mut HashMap<K, V>, at: impl Fn(&V) -> Instant) {
    if map.len() > KEPT_AT_MOST {
        map.retain(|_, answer| fresh(at(answer)));
    }
}

impl BidCheckCache {
    /// Whether `auction` needs a card, if read lately.
    fn required(&self, auction: AuctionId) -> Option<bool> {
        lock(&self.required)
            .get(&auction)
            .filter(|(_, at)| fresh(*at))
            .map(|(required, _)| *required)
    }

    fn remember_required(&self, auction: AuctionId, required: bool) {
        let mut map = lock(&self.required);
        prune(&mut map, |(_, at)| *at);
        map.insert(auction, (required, Instant::now()));
    }

    /// Whether `user` was found lately to have a card.
    fn has_card(&self, user: UserId) -> bool {
        lock(&self.has_card).get(&user).is_some_and(|at| fresh(*at))
    }

    /// The changes heard so far, to be given to [`Self::found_card`].
    fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Keeps that `user` has a card, as a read of the store begun when
    /// `changes` changes were heard found; not if one was heard since.
    fn found_card(&self, user: UserId, changes: u64) {
        let mut map = lock(&self.has_card);
        if self.changes() != changes {
            return;
        }
        prune(&mut map, |at| *at);
        map.insert(user, Instant::now());
    }

    /// Forgets what was read of `user`'s cards: they changed.
    fn forget(&self, user: UserId) {
        let mut map = lock(&self.has_card);
        self.changes.fetch_add(1, Ordering::AcqRel);
        map.remove(&user);
    }
}

/// Has this process forget a buyer's cards when another node of a cluster
/// announces that they changed. Weak: the rooms outlive the service.
pub(crate) fn hear_card_changes(rooms: &Rooms, checks: &SharedBidChecks) {
    let checks = Arc::downgrade(checks);
    rooms.listen(Arc::new(move |room, notice| {
        if let (RoomKey::User(user), RoomNotice::PaymentMethodsChanged) = (room, notice)
            && let Some(checks) = checks.upgrade()
        {
            checks.forget(user);
        }
    }));
}

/// 402 `payment_method_required`.
pub fn card_required() -> Error {
    Error::refused(
        Code::PaymentMethodRequired,
        "a card on file is needed to bid here: save one with POST /api/v1/payments/methods/setup",
    )
}

impl Commerce {
    /// Whether cards on file exist here (a gateway that charges them).
    pub fn takes_cards(&self) -> bool {
        !self.gateway.is_manual()
    }

    /// Refuses a bid (or buy-now) of `bidder` on `auction` with
    /// `payment_method_required` when the auction (or its show) needs a card
    /// on file and the bidder has none. Without a gateway that charges
    /// cards, nothing is checked.
    pub async fn check_card_for_bid(&self, bidder: UserId, auction: AuctionId) -> Result<()> {
        if !self.takes_cards() {
            return Ok(());
        }
        // Boxed: the look-ups would otherwise size the future of every bid
        // (which carries this one), though most servers never make them.
        Box::pin(self.check_card_rule(bidder, auction)).await
    }

    /// [`Commerce::check_card_for_bid`] where cards are taken.
    async fn check_card_rule(&self, bidder: UserId, auction: AuctionId) -> Result<()> {
        let required = match self.bid_checks.required(auction) {
            Some(required) => required,
            None => {
                let rule: Option<(Option<bool>, Option<bool>)> = with_db!(&self.db, pool => sqlx::query_as(
                    "SELECT a.require_payment_method, s.require_payment_method FROM auctions a \
                     LEFT JOIN shows s ON s.id = a.show_id WHERE a.id = $1",
                )
                .bind(Uuid::from(auction))
                .fetch_optional(pool)
                .await)?;
                // An unknown auction is the engine's 404 to give.
                let Some((own, show)) = rule else {
                    return Ok(());
                };
                let required = own
                    .or(show)
                    .unwrap_or(self.settings.require_card_by_default);
                self.bid_checks.remember_required(auction, required);
                required
            }
        };
        if !required {
            return Ok(());
        }
        self.ensure_card_on_file(bidder).await
    }

    /// Refuses a flash-sale claim of `buyer` in `show` with
    /// `payment_method_required` where the show needs a card to bid (its
    /// orders are charged like a buy-now's) and the buyer has none.
    pub async fn check_card_for_claim(&self, buyer: UserId, show: ShowId) -> Result<()> {
        if !self.takes_cards() {
            return Ok(());
        }
        let rule: Option<Option<bool>> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT require_payment_method FROM shows WHERE id = $1",
        )
        .bind(Uuid::from(show))
        .fetch_optional(pool)
        .await)?;
        // An unknown show is the caller's 404 to give.
        let Some(own) = rule else {
            return Ok(());
        };
        if !own.unwrap_or(self.settings.require_card_by_default) {
            return Ok(());
        }
        self.ensure_card_on_file(buyer).await
    }

    /// `payment_method_required` unless `user` has a card on file.
    async fn ensure_card_on_file(&self, user: UserId) -> Result<()> {
        if self.bid_checks.has_card(user) {
            return Ok(());
        }
        let changes = self.bid_checks.changes();
        let has: bool = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM payment_methods WHERE user_id = $1)",
        )
        .bind(Uuid::from(user))
        .fetch_one(pool)
        .await)?;
        if !has {
            return Err(card_required());
        }
        self.bid_checks.found_card(user, changes);
        Ok(())
    }

    /// After `user`'s cards changed in the store: forgets them here and
    /// tells the other nodes of a cluster to.
    fn forget_cards_of(&self, user: Uuid) {
        let user = UserId::from(user);
        self.bid_checks.forget(user);
        if let Some(rooms) = &self.rooms {
            rooms.announce(RoomKey::User(user), RoomNotice::PaymentMethodsChanged);
        }
    }

    /// The buyer's customer at the gateway, made on first need.
    pub(crate) async fn customer_of(&self, user: Uuid) -> Result<String> {
        let known: Option<String> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT customer_id FROM payment_customers WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(pool)
        .await)?;
        if let Some(customer) = known {
            return Ok(customer);
        }
        let email: Option<String> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT email FROM users WHERE id = $1",
        )
        .bind(user)
        .fetch_optional(pool)
        .await)?;
        let email = email.ok_or(Error::NotFound { what: "user" })?;
        // The same key makes the same customer: two first uses at once share it.
        let customer = self
            .gateway
            .create_customer(user, &email, &format!("blytz-customer-{user}"))
            .await?;
        let now = crate::time::now();
        with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO payment_customers (user_id, customer_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user)
        .bind(&customer)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(customer)
    }

    /// Start saving a card: a setup intent for the caller's customer.
    pub async fn setup_card(&self, caller: Caller) -> Result<CardSetup> {
        if !self.takes_cards() {
            return Err(super::payments::manual_refusal());
        }
        let user = Uuid::from(caller.id);
        let customer = self.customer_of(user).await?;
        let intent = self
            .gateway
            .create_setup_intent(&customer, user, &format!("blytz-setup-{}", Uuid::now_v7()))
            .await?;
        Ok(CardSetup {
            setup_intent_id: intent.id,
            client_secret: intent.client_secret,
            customer_id: customer,
        })
    }

    /// Read a setup intent the caller's browser confirmed back from the
    /// gateway and store its card.
    pub async fn confirm_card(&self, caller: Caller, setup_intent: &str) -> Result<PaymentMethod> {
        if !self.takes_cards() {
            return Err(super::payments::manual_refusal());
        }
        let user = Uuid::from(caller.id);
        let customer = self.customer_of(user).await?;
        let intent = self.gateway.retrieve_setup_intent(setup_intent).await?;
        if intent.customer.as_deref() != Some(customer.as_str()) {
            return Err(Error::NotFound {
                what: "setup intent",
            });
        }
        let Some(method) = intent
            .payment_method
            .filter(|_| intent.status == "succeeded")
        else {
            return Err(Error::refused(
                Code::InvalidTransition,
                "the setup intent has not succeeded yet: confirm it first",
            ));
        };
        self.store_card(&customer, &method).await?;
        let row: MethodRow = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, brand, last4, exp_month, exp_year, is_default, created_at FROM payment_methods \
             WHERE provider_id = $1",
        )
        .bind(&method)
        .fetch_one(pool)
        .await)?;
        Ok(row.into())
    }

    /// Store the card `method` of `customer` (read back from the gateway);
    /// the first card of a buyer is their default. Answers whether it is new.
    pub(crate) async fn store_card(&self, customer: &str, method: &str) -> Result<bool> {
        let user: Option<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT user_id FROM payment_customers WHERE customer_id = $1",
        )
        .bind(customer)
        .fetch_optional(pool)
        .await)?;
        let Some(user) = user else {
            tracing::warn!(customer, "a card was saved for a customer nobody here has");
            return Ok(false);
        };
        let card: CardInfo = self.gateway.retrieve_payment_method(method).await?;
        if card.customer.as_deref() != Some(customer) {
            tracing::warn!(
                customer,
                method,
                "a saved card belongs to another customer: not stored"
            );
            return Ok(false);
        }
        let now = crate::time::now();
        let fresh = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let has_default: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM payment_methods WHERE user_id = $1 AND is_default)",
            )
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
            let fresh = sqlx::query(
                "INSERT INTO payment_methods (id, user_id, provider_id, brand, last4, exp_month, exp_year, \
                 is_default, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (provider_id) DO NOTHING",
            )
            .bind(Uuid::now_v7())
            .bind(user)
            .bind(&card.id)
            .bind(&card.brand)
            .bind(&card.last4)
            .bind(card.exp_month)
            .bind(card.exp_year)
            .bind(!has_default)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            tx.commit().await?;
            fresh
        });
        self.forget_cards_of(user);
        Ok(fresh)
    }

    /// The caller's saved cards, newest first.
    pub async fn cards(&self, caller: Caller, page: &Page) -> Result<Paged<PaymentMethod>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let rows: Vec<MethodRow> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, brand, last4, exp_month, exp_year, is_default, created_at FROM payment_methods \
             WHERE user_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(Uuid::from(caller.id))
        .bind(before)
        .bind(fetch_size(limit))
        .fetch_all(pool)
        .await)?;
        Ok(Paged::from_rows(rows, limit, |last| last.id.to_string()).map(PaymentMethod::from))
    }

    /// The caller's card `id` and its gateway id, or 404.
    async fn own_card(&self, caller: Caller, id: Uuid) -> Result<(String, bool)> {
        let row: Option<(String, bool)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT provider_id, is_default FROM payment_methods WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(Uuid::from(caller.id))
        .fetch_optional(pool)
        .await)?;
        row.ok_or(Error::NotFound {
            what: "payment method",
        })
    }

    /// Remove a saved card (detached at the gateway first); when it was the
    /// default, the newest remaining card becomes the default.
    pub async fn remove_card(&self, caller: Caller, id: Uuid) -> Result<()> {
        let (provider_id, _) = self.own_card(caller, id).await?;
        self.gateway.detach_payment_method(&provider_id).await?;
        let user = Uuid::from(caller.id);
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let was_default: Option<bool> = sqlx::query_scalar(
                "DELETE FROM payment_methods WHERE id = $1 AND user_id = $2 RETURNING is_default",
            )
            .bind(id)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            if was_default == Some(true) {
                sqlx::query(
                    "UPDATE payment_methods SET is_default = TRUE WHERE id = \
                     (SELECT id FROM payment_methods WHERE user_id = $1 ORDER BY id DESC LIMIT 1)",
                )
                .bind(user)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        self.forget_cards_of(user);
        Ok(())
    }

    /// Make a saved card the one charged at the hammer.
    pub async fn set_default_card(&self, caller: Caller, id: Uuid) -> Result<PaymentMethod> {
        self.own_card(caller, id).await?;
        let user = Uuid::from(caller.id);
        let row: MethodRow = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE payment_methods SET is_default = FALSE WHERE user_id = $1 AND is_default")
                .bind(user)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query_as(
                "UPDATE payment_methods SET is_default = TRUE WHERE id = $1 AND user_id = $2 \
                 RETURNING id, brand, last4, exp_month, exp_year, is_default, created_at",
            )
            .bind(id)
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            row
        });
        Ok(row.into())
    }

    /// The customer and saved card of `buyer` a charge uses: card `id`, or
    /// the default card without one. None when there is no such card.
    pub(crate) async fn card_for_charge(
        &self,
        buyer: Uuid,
        id: Option<Uuid>,
    ) -> Result<Option<(String, String)>> {
        Ok(with_db!(&self.db, pool => sqlx::query_as(
            "SELECT c.customer_id, m.provider_id FROM payment_methods m \
             JOIN payment_customers c ON c.user_id = m.user_id \
             WHERE m.user_id = $1 AND (m.id = $2 OR ($2 IS NULL AND m.is_default))",
        )
        .bind(buyer)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }
}

/// Shared between clones of the service.
pub(crate) type SharedBidChecks = Arc<BidCheckCache>;

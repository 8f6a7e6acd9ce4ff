//! One shipment per show: a buyer's wins and buy-now purchases from one
//! seller during one show (and [`super::CommerceSettings::bundle_window`]
//! after it ends) are one bundle: one shipping charge (the seller's first
//! item, then each additional item), one parcel, one tracking number.
//!
//! A seller sets their rates (`PUT /sellers/me/shipping`); without rates an
//! order pays the flat shipping setting and joins no bundle. The seller
//! ships a bundle by hand (carrier and tracking number) or books it with the
//! configured carrier (Ninja Van), which prints the label and reports each
//! step by signed webhooks; "delivered" delivers every order in it and
//! starts the seller's payout clock.

use blytz_actors::domain::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{Address, Order, OrderStatus};
use super::orders::invalid_transition;
use super::shipping::{DeliveryRequest, Party, TrackingUpdate};
use super::{Caller, Commerce};
use crate::Code;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// A seller's shipping rates, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingRates {
    /// ISO 4217, the currency of the seller's lots.
    pub currency: String,
    /// The first item of a bundle (minor units).
    pub first_item: i64,
    /// Each further item of the same bundle (minor units).
    pub additional_item: i64,
}

/// A bundle: what one buyer bought from one seller in one show.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bundle {
    /// The bundle.
    pub id: Uuid,
    /// Who bought.
    pub buyer_id: Uuid,
    /// Who ships.
    pub seller_id: Uuid,
    /// The show.
    pub show_id: Uuid,
    /// ISO 4217.
    pub currency: String,
    /// `open` (gathering and being paid), `shipped` or `delivered`.
    pub status: String,
    /// Shipping charged over all its orders (minor units).
    pub shipping_total: i64,
    /// Who shipped it: `manual` or the carrier's name (e.g. `ninjavan`).
    pub provider: Option<String>,
    /// The carrier as shown, e.g. `Ninja Van`.
    pub carrier: Option<String>,
    /// One tracking number for the whole parcel.
    pub tracking_number: Option<String>,
    /// Where to follow it, when known.
    pub tracking_url: Option<String>,
    /// Its orders, oldest first.
    pub orders: Vec<Order>,
    /// When it was opened.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
}

/// `POST /bundles/{id}/ship`: by hand (`carrier` and `tracking_number`) or
/// booked with the configured carrier (`carrier: "ninjavan"`, no number).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ShipBundleInput {
    /// e.g. `UPS`, or the configured carrier's name (`ninjavan`) to book it.
    pub carrier: String,
    /// The tracking number of a parcel shipped by hand.
    #[serde(default)]
    pub tracking_number: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct BundleRow {
    id: Uuid,
    buyer_id: Uuid,
    seller_id: Uuid,
    show_id: Uuid,
    currency: String,
    status: String,
    provider: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    created_at: DateTime<Utc>,
}

const BUNDLE_COLUMNS: &str = "id, buyer_id, seller_id, show_id, currency, status, provider, carrier, \
                              tracking_number, tracking_url, created_at";

impl Commerce {
    /// The caller's shipping rates (404 until set).
    pub async fn shipping_rates(&self, seller: UserId) -> Result<ShippingRates> {
        self.rates_of(Uuid::from(seller))
            .await?
            .ok_or(Error::NotFound {
                what: "shipping rates",
            })
    }

    pub(crate) async fn rates_of(&self, seller: Uuid) -> Result<Option<ShippingRates>> {
        Ok(with_db!(&self.db, pool => sqlx::query_as::<_, (String, i64, i64)>(
            "SELECT currency, first_item, additional_item FROM seller_shipping_rates WHERE seller_id = $1",
        )
        .bind(seller)
        .fetch_optional(pool)
        .await)?
        .map(|(currency, first_item, additional_item)| ShippingRates {
            currency,
            first_item,
            additional_item,
        }))
    }

    /// Set the caller's shipping rates.
    pub async fn set_shipping_rates(
        &self,
        caller: Caller,
        rates: ShippingRates,
    ) -> Result<ShippingRates> {
        if !caller.role.can_sell() {
            return Err(Error::forbidden("only sellers set shipping rates"));
        }
        let currency: blytz_actors::domain::Currency = rates.currency.parse().map_err(|_| {
            Error::validation(
                "currency",
                "currency",
                "must be an ISO 4217 code such as USD",
            )
        })?;
        for (field, amount) in [
            ("first_item", rates.first_item),
            ("additional_item", rates.additional_item),
        ] {
            if !(0..=blytz_actors::domain::MAX_AMOUNT).contains(&amount) {
                return Err(Error::validation(
                    field,
                    "range",
                    "must be between 0 and the largest amount",
                ));
            }
        }
        let now = crate::time::now();
        with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO seller_shipping_rates (seller_id, currency, first_item, additional_item, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seller_id) DO UPDATE SET currency = $2, \
             first_item = $3, additional_item = $4, updated_at = $5",
        )
        .bind(Uuid::from(caller.id))
        .bind(currency.as_str())
        .bind(rates.first_item)
        .bind(rates.additional_item)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(ShippingRates {
            currency: currency.as_str().to_owned(),
            ..rates
        })
    }

    /// The open bundle of `buyer` with `seller` in `show` (made when
    /// missing), if the show is live or ended less than the bundle window ago.
    pub(crate) async fn open_bundle(
        &self,
        buyer: Uuid,
        seller: Uuid,
        show: Uuid,
        currency: &str,
    ) -> Result<Option<Uuid>> {
        let now = crate::time::now();
        let show_row: Option<(String, Option<DateTime<Utc>>)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT status, ended_at FROM shows WHERE id = $1",
        )
        .bind(show)
        .fetch_optional(pool)
        .await)?;
        let Some((_, ended_at)) = show_row else {
            return Ok(None);
        };
        if ended_at.is_some_and(|ended| super::later(ended, self.settings.bundle_window) < now) {
            return Ok(None);
        }
        with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO bundles (id, buyer_id, seller_id, show_id, currency, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, $6) \
             ON CONFLICT (buyer_id, seller_id, show_id, currency) WHERE status = 'open' DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(buyer)
        .bind(seller)
        .bind(show)
        .bind(currency)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM bundles WHERE buyer_id = $1 AND seller_id = $2 AND show_id = $3 \
             AND currency = $4 AND status = 'open'",
        )
        .bind(buyer)
        .bind(seller)
        .bind(show)
        .bind(currency)
        .fetch_optional(pool)
        .await)?)
    }

    /// The show a purchase from `seller` now belongs to: their live show, or
    /// the one that ended less than the bundle window ago.
    pub(crate) async fn current_show_of(&self, seller: Uuid) -> Result<Option<Uuid>> {
        let now = crate::time::now();
        let since = now
            - chrono::Duration::from_std(self.settings.bundle_window)
                .unwrap_or_else(|_| chrono::Duration::zero());
        Ok(with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM shows WHERE seller_id = $1 AND (status = 'live' OR \
             (status = 'ended' AND ended_at >= $2)) ORDER BY started_at DESC LIMIT 1",
        )
        .bind(seller)
        .bind(since)
        .fetch_optional(pool)
        .await)?)
    }

    /// What the next order of `seller`, in `bundle` (if any), pays for
    /// shipping: the first item or an additional one by the seller's rates
    /// (in `currency`), else the flat setting. `items_before` is how many
    /// items the bundle's live orders hold already.
    fn shipping_for(
        &self,
        rates: Option<&ShippingRates>,
        currency: blytz_actors::domain::Currency,
        items_before: i64,
    ) -> Money {
        match rates.filter(|r| r.currency == currency.as_str()) {
            Some(r) if items_before > 0 => Money::new(r.additional_item, currency),
            Some(r) => Money::new(r.first_item, currency),
            None => Money::new(self.settings.shipping_flat_minor, currency),
        }
    }

    /// What the next order of a seller with `rates`, joining `bundle` (if
    /// any), pays for shipping in `currency`: see [`Commerce::shipping_for`],
    /// counting the items the bundle's live orders hold already.
    pub(crate) async fn shipping_into(
        &self,
        bundle: Option<Uuid>,
        rates: Option<&ShippingRates>,
        currency: blytz_actors::domain::Currency,
    ) -> Result<Money> {
        let items_before: i64 = match bundle {
            Some(bundle) => with_db!(&self.db, pool => sqlx::query_scalar(
                "SELECT COUNT(*) FROM orders WHERE bundle_id = $1 AND status NOT IN ('lapsed', 'cancelled')",
            )
            .bind(bundle)
            .fetch_one(pool)
            .await)?,
            None => 0,
        };
        Ok(self.shipping_for(rates, currency, items_before))
    }

    async fn bundle_row(&self, id: Uuid) -> Result<Option<BundleRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {BUNDLE_COLUMNS} FROM bundles WHERE id = $1"
        ));
        Ok(with_db!(&self.db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    async fn visible_bundle(&self, caller: Caller, id: Uuid) -> Result<BundleRow> {
        match self.bundle_row(id).await? {
            Some(row)
                if caller.may_manage(UserId::from(row.buyer_id))
                    || caller.may_manage(UserId::from(row.seller_id)) =>
            {
                Ok(row)
            }
            _ => Err(Error::NotFound { what: "bundle" }),
        }
    }

    async fn to_bundle(&self, caller: Caller, row: BundleRow) -> Result<Bundle> {
        let ids: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM orders WHERE bundle_id = $1 ORDER BY id",
        )
        .bind(row.id)
        .fetch_all(pool)
        .await)?;
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            orders.push(self.order(caller, id).await?);
        }
        let shipping_total = orders
            .iter()
            .filter(|o| !matches!(o.status, OrderStatus::Lapsed | OrderStatus::Cancelled))
            .map(|o| o.shipping)
            .sum();
        Ok(Bundle {
            id: row.id,
            buyer_id: row.buyer_id,
            seller_id: row.seller_id,
            show_id: row.show_id,
            currency: row.currency,
            status: row.status,
            shipping_total,
            provider: row.provider,
            carrier: row.carrier,
            tracking_number: row.tracking_number,
            tracking_url: row.tracking_url,
            orders,
            created_at: row.created_at,
        })
    }

    /// One bundle: its buyer, its seller or an admin.
    pub async fn bundle(&self, caller: Caller, id: Uuid) -> Result<Bundle> {
        let row = self.visible_bundle(caller, id).await?;
        self.to_bundle(caller, row).await
    }

    /// The caller's bundles, newest first: as buyer or (`seller`) as seller.
    pub async fn bundles(
        &self,
        caller: Caller,
        seller: bool,
        page: &Page,
    ) -> Result<Paged<Bundle>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let who = if seller { "seller_id" } else { "buyer_id" };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {BUNDLE_COLUMNS} FROM bundles WHERE {who} = $1 AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ));
        let rows: Vec<BundleRow> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(Uuid::from(caller.id))
            .bind(before)
            .bind(fetch_size(limit))
            .fetch_all(pool)
            .await)?;
        let rows = Paged::from_rows(rows, limit, |last| last.id.to_string());
        let mut items = Vec::with_capacity(rows.items.len());
        for row in rows.items {
            items.push(self.to_bundle(caller, row).await?);
        }
        Ok(Paged {
            items,
            next_cursor: rows.next_cursor,
        })
    }

    /// The seller ships a bundle: every paid order in it leaves in one
    /// parcel under one tracking number, typed by hand or booked with the
    /// configured carrier.
    pub async fn ship_bundle(
        &self,
        caller: Caller,
        id: Uuid,
        input: ShipBundleInput,
    ) -> Result<Bundle> {
        let row = self.visible_bundle(caller, id).await?;
        if !caller.may_manage(UserId::from(row.seller_id)) {
            return Err(Error::forbidden(
                "only the seller or an admin may ship a bundle",
            ));
        }
        if row.status != "open" {
            return Err(Error::refused(
                Code::InvalidTransition,
                "this bundle has already been shipped",
            ));
        }
        let paid: Vec<(Uuid, i64)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT o.id, CAST(COALESCE((SELECT SUM(quantity) FROM order_items i WHERE i.order_id = o.id), 0) AS BIGINT) \
             FROM orders o WHERE o.bundle_id = $1 AND o.status IN ('paid', 'processing') ORDER BY o.id",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        if paid.is_empty() {
            return Err(invalid_transition(
                OrderStatus::PendingPayment,
                OrderStatus::Shipped,
            ));
        }
        let booked = self
            .carrier
            .as_ref()
            .filter(|c| input.carrier.eq_ignore_ascii_case(c.name()));
        let (provider, carrier, tracking_number, tracking_url) = match booked {
            Some(carrier) => {
                let request = self.delivery_request(&row, &paid).await?;
                let delivery = carrier.create_delivery(&request).await?;
                (
                    carrier.name().to_owned(),
                    carrier.display_name().to_owned(),
                    delivery.tracking_number,
                    delivery.tracking_url,
                )
            }
            None if input.carrier.eq_ignore_ascii_case("ninjavan") => {
                return Err(Error::code_only(Code::CarrierNotConfigured));
            }
            None => {
                let tracking = self
                    .shipping
                    .register(
                        &input.carrier,
                        input.tracking_number.as_deref().unwrap_or_default(),
                    )
                    .await?;
                (
                    self.shipping.name().to_owned(),
                    tracking.carrier,
                    tracking.tracking_number,
                    tracking.tracking_url,
                )
            }
        };
        let now = crate::time::now();
        let shippable = super::orders::from_clause(OrderStatus::Shipped);
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE bundles SET status = 'shipped', provider = $1, carrier = $2, tracking_number = $3, \
                 tracking_url = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(&provider).bind(&carrier).bind(&tracking_number).bind(&tracking_url).bind(now).bind(id)
            .execute(&mut *tx).await?;
            for (order, _) in &paid {
                let sql = sqlx::AssertSqlSafe(format!(
                    "UPDATE orders SET status = 'shipped', shipped_at = $1, updated_at = $1 WHERE id = $2 AND {shippable}"
                ));
                let moved = sqlx::query(sql).bind(now).bind(*order).execute(&mut *tx).await?.rows_affected() == 1;
                if !moved {
                    continue;
                }
                let shipment = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO shipments (id, order_id, provider, carrier, tracking_number, tracking_url, \
                     status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'shipped', $7, $7)",
                )
                .bind(shipment).bind(*order).bind(&provider).bind(&carrier)
                .bind(&tracking_number).bind(&tracking_url).bind(now)
                .execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO shipment_events (id, shipment_id, status, note, at) VALUES ($1, $2, 'shipped', $3, $4)",
                )
                .bind(Uuid::now_v7()).bind(shipment)
                .bind(format!("handed to {carrier} with the rest of the bundle")).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        for (order, _) in &paid {
            self.tell(
                row.buyer_id,
                &serde_json::json!({"type": "order.shipped", "order_id": order, "bundle_id": id,
                    "carrier": carrier, "tracking_number": tracking_number}),
            );
            self.notice_shipped(
                row.buyer_id,
                *order,
                &carrier,
                Some(tracking_number.as_str()),
            )
            .await;
        }
        self.bundle(caller, id).await
    }

    /// What the carrier is asked to pick up: the seller's default shipping
    /// address (their pickup address) to the buyer's address on the order.
    async fn delivery_request(
        &self,
        row: &BundleRow,
        paid: &[(Uuid, i64)],
    ) -> Result<DeliveryRequest> {
        let pickup: Option<Address> = self.default_address_of(row.seller_id).await?;
        let pickup = pickup.ok_or_else(|| {
            Error::validation(
                "pickup_address",
                "required",
                "set a default shipping address: the carrier picks the parcel up there",
            )
        })?;
        let first = paid
            .first()
            .map(|(id, _)| *id)
            .ok_or(Error::NotFound { what: "order" })?;
        let to: Option<sqlx::types::Json<serde_json::Value>> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT shipping_address FROM orders WHERE id = $1",
        )
        .bind(first)
        .fetch_one(pool)
        .await)?;
        let to = match to {
            Some(json) => json.0,
            None => match self.default_address_of(row.buyer_id).await? {
                Some(a) => serde_json::to_value(a).map_err(anyhow::Error::from)?,
                None => {
                    return Err(Error::validation(
                        "shipping_address",
                        "required",
                        "the buyer has no shipping address yet",
                    ));
                }
            },
        };
        let to: Address = serde_json::from_value(to).map_err(anyhow::Error::from)?;
        let emails: Vec<(Uuid, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, email FROM users WHERE id IN ($1, $2)",
        )
        .bind(row.seller_id)
        .bind(row.buyer_id)
        .fetch_all(pool)
        .await)?;
        let email_of = |user: Uuid| {
            emails
                .iter()
                .find(|(id, _)| *id == user)
                .map(|(_, e)| e.clone())
        };
        let items = paid.iter().map(|(_, n)| *n).sum::<i64>();
        Ok(DeliveryRequest {
            reference: row.id.simple().to_string(),
            from: party(&pickup, email_of(row.seller_id)),
            to: party(&to, email_of(row.buyer_id)),
            items: u32::try_from(items.max(1)).unwrap_or(u32::MAX),
            description: format!("{items} item(s) from a live show"),
        })
    }

    /// The carrier's label (PDF) of a booked bundle: its seller or an admin.
    pub async fn bundle_label(&self, caller: Caller, id: Uuid) -> Result<Vec<u8>> {
        let row = self.visible_bundle(caller, id).await?;
        if !caller.may_manage(UserId::from(row.seller_id)) {
            return Err(Error::forbidden(
                "only the seller or an admin may print the label",
            ));
        }
        let carrier = self
            .carrier
            .as_ref()
            .ok_or(Error::code_only(Code::CarrierNotConfigured))?;
        match (&row.provider, &row.tracking_number) {
            (Some(provider), Some(tracking)) if provider == carrier.name() => {
                carrier.label(tracking).await
            }
            _ => Err(Error::NotFound { what: "label" }),
        }
    }

    /// The label of an order's bundle.
    pub async fn order_label(&self, caller: Caller, order: Uuid) -> Result<Vec<u8>> {
        let row = self.visible_order(caller, order).await?;
        let bundle = row.bundle_id.ok_or(Error::NotFound { what: "label" })?;
        self.bundle_label(caller, bundle).await
    }

    /// Call a booked delivery off before pickup: the bundle is open again
    /// and its orders paid, not shipped.
    pub async fn cancel_bundle_shipment(&self, caller: Caller, id: Uuid) -> Result<Bundle> {
        let row = self.visible_bundle(caller, id).await?;
        if !caller.may_manage(UserId::from(row.seller_id)) {
            return Err(Error::forbidden("only the seller or an admin may do this"));
        }
        let carrier = self
            .carrier
            .as_ref()
            .ok_or(Error::code_only(Code::CarrierNotConfigured))?;
        let tracking = match (&row.provider, &row.tracking_number, row.status.as_str()) {
            (Some(p), Some(t), "shipped") if p == carrier.name() => t.clone(),
            _ => {
                return Err(Error::refused(
                    Code::InvalidTransition,
                    "only a booked bundle that was not delivered can be cancelled",
                ));
            }
        };
        carrier.cancel(&tracking).await?;
        let now = crate::time::now();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM shipment_events WHERE shipment_id IN (SELECT id FROM shipments WHERE order_id IN \
                 (SELECT id FROM orders WHERE bundle_id = $1))",
            )
            .bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM shipments WHERE order_id IN (SELECT id FROM orders WHERE bundle_id = $1)")
                .bind(id).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE orders SET status = 'paid', shipped_at = NULL, updated_at = $1 \
                 WHERE bundle_id = $2 AND status = 'shipped'",
            )
            .bind(now).bind(id).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE bundles SET status = 'open', provider = NULL, carrier = NULL, tracking_number = NULL, \
                 tracking_url = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(now).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.bundle(caller, id).await
    }

    /// Verify and apply one tracking webhook of the configured carrier:
    /// each report is recorded once on every order of its parcel; a
    /// delivery delivers them all. A bad signature changes nothing.
    pub async fn carrier_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<super::payments::webhooks::WebhookReceipt> {
        let carrier = self
            .carrier
            .as_ref()
            .ok_or(Error::code_only(Code::CarrierNotConfigured))?;
        let update: TrackingUpdate = carrier.tracking_webhook(signature, body)?;
        let now = crate::time::now();
        let provider = carrier.name();
        let fresh = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO carrier_events (id, provider, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(format!("{provider}:{}", update.event_id)).bind(provider).bind(now)
            .execute(&mut *tx).await?.rows_affected() == 1;
            if fresh {
                let shipments: Vec<(Uuid, Uuid)> = sqlx::query_as(
                    "SELECT id, order_id FROM shipments WHERE provider = $1 AND tracking_number = $2",
                )
                .bind(provider).bind(&update.tracking_number)
                .fetch_all(&mut *tx).await?;
                for (shipment, order) in &shipments {
                    sqlx::query(
                        "INSERT INTO shipment_events (id, shipment_id, status, note, at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(Uuid::now_v7()).bind(*shipment).bind(&update.status).bind(&update.note).bind(update.at)
                    .execute(&mut *tx).await?;
                    sqlx::query("UPDATE shipments SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(&update.status).bind(now).bind(*shipment)
                        .execute(&mut *tx).await?;
                    if update.is_delivered() {
                        sqlx::query(
                            "UPDATE orders SET status = 'delivered', delivered_at = $1, updated_at = $1 \
                             WHERE id = $2 AND status = 'shipped'",
                        )
                        .bind(now).bind(*order).execute(&mut *tx).await?;
                    }
                }
                if update.is_delivered() {
                    sqlx::query(
                        "UPDATE bundles SET status = 'delivered', updated_at = $1 WHERE provider = $2 \
                         AND tracking_number = $3 AND status = 'shipped'",
                    )
                    .bind(now).bind(provider).bind(&update.tracking_number)
                    .execute(&mut *tx).await?;
                }
                if shipments.is_empty() {
                    tracing::warn!(tracking = %update.tracking_number, "a tracking report for a parcel nobody here shipped");
                }
            }
            tx.commit().await?;
            fresh
        });
        if fresh && update.is_delivered() {
            self.nudge_outbox();
        }
        Ok(super::payments::webhooks::WebhookReceipt {
            received: true,
            event_id: update.event_id,
            duplicate: !fresh,
        })
    }

    async fn default_address_of(&self, user: Uuid) -> Result<Option<Address>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM addresses WHERE user_id = $1 AND type = 'shipping' \
             ORDER BY is_default DESC, id DESC LIMIT 1",
            super::addresses::ADDRESS_COLUMNS
        ));
        let row: Option<super::addresses::AddressRow> =
            with_db!(&self.db, pool => sqlx::query_as(sql).bind(user).fetch_optional(pool).await)?;
        Ok(row.map(Address::from))
    }
}

fn party(a: &Address, email: Option<String>) -> Party {
    Party {
        name: format!("{} {}", a.first_name, a.last_name)
            .trim()
            .to_owned(),
        phone: a.phone.clone(),
        email,
        address1: a.address_line1.clone(),
        address2: a.address_line2.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        postcode: a.postal_code.clone(),
        country: a.country.clone(),
    }
}

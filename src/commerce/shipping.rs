//! Shipping: a provider trait so a carrier integration can plug in, and the
//! manual provider, where the seller types the carrier and tracking number.
//! Each shipment keeps its status history; the buyer sees it on the order.

pub mod ninjavan;

use serde::Deserialize;
use uuid::Uuid;

use super::model::{Order, OrderStatus};
use super::orders::{invalid_transition, move_order};
use super::{Caller, Commerce, validate};
use crate::error::{Error, Result};
use crate::with_db;

/// What a provider says about a parcel it registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    /// The carrier's name as shown.
    pub carrier: String,
    /// The tracking number.
    pub tracking_number: String,
    /// Where to follow it, when known.
    pub tracking_url: Option<String>,
}

/// A shipping provider: registers a parcel with a carrier.
#[async_trait::async_trait]
pub trait ShippingProvider: Send + Sync + std::fmt::Debug {
    /// e.g. `manual`.
    fn name(&self) -> &'static str;

    /// Register a parcel the seller handed to `carrier` under `tracking_number`.
    async fn register(&self, carrier: &str, tracking_number: &str) -> Result<Tracking>;
}

/// One end of a delivery: the seller's pickup address or the buyer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Full name.
    pub name: String,
    /// Phone, when known.
    pub phone: Option<String>,
    /// Email, when known.
    pub email: Option<String>,
    /// Street and number.
    pub address1: String,
    /// Flat, floor, ...
    pub address2: Option<String>,
    /// City.
    pub city: String,
    /// State or region.
    pub state: Option<String>,
    /// Postal code.
    pub postcode: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// A parcel a carrier is asked to pick up and deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    /// Blytz's reference for it (the bundle id), sent to the carrier as
    /// the merchant's order number: the same reference never makes a second
    /// delivery order.
    pub reference: String,
    /// The seller's pickup address.
    pub from: Party,
    /// The buyer's address.
    pub to: Party,
    /// How many items are in the parcel.
    pub items: u32,
    /// What is in it, for the carrier.
    pub description: String,
}

/// A delivery order the carrier made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// Where to follow it, when known.
    pub tracking_url: Option<String>,
}

/// One step a carrier reports for a parcel (from a verified webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingUpdate {
    /// The carrier's id of this report (a redelivered webhook repeats it).
    pub event_id: String,
    /// The parcel.
    pub tracking_number: String,
    /// Blytz's name of the step: `picked_up`, `in_transit`,
    /// `out_for_delivery`, `delivered`, `delivery_failed`, `returned`,
    /// `cancelled` or `other`.
    pub status: String,
    /// The carrier's own words for it.
    pub note: Option<String>,
    /// When it happened, as the carrier says.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl TrackingUpdate {
    /// Whether the parcel reached the buyer.
    pub fn is_delivered(&self) -> bool {
        self.status == "delivered"
    }
}

/// A carrier Blytz books deliveries with (Ninja Van): it makes the delivery
/// order, prints the label, cancels before pickup and reports each step by
/// signed webhooks.
#[async_trait::async_trait]
pub trait Carrier: Send + Sync + std::fmt::Debug {
    /// e.g. `ninjavan`.
    fn name(&self) -> &'static str;

    /// The carrier's name as shown to people, e.g. `Ninja Van`.
    fn display_name(&self) -> &'static str;

    /// Book a pickup and delivery; answers its tracking number.
    async fn create_delivery(&self, request: &DeliveryRequest) -> Result<Delivery>;

    /// The waybill (label) of a delivery, as PDF bytes.
    async fn label(&self, tracking_number: &str) -> Result<Vec<u8>>;

    /// Cancel a delivery that was not picked up yet.
    async fn cancel(&self, tracking_number: &str) -> Result<()>;

    /// Verify a webhook's signature over the raw body and read it. A bad or
    /// missing signature is 401 `invalid_signature`; a body that is not a
    /// tracking report is 400 `invalid_event`.
    fn tracking_webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<TrackingUpdate>;
}

/// The carrier `config` names: Ninja Van when `NINJAVAN_CLIENT_ID` is set
/// (then its secret and country are required), else none.
pub fn carrier_from_config(
    config: &crate::config::Config,
) -> anyhow::Result<Option<std::sync::Arc<dyn Carrier>>> {
    let Some(client_id) = config
        .ninjavan_client_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    else {
        return Ok(None);
    };
    let secret = config.ninjavan_client_secret.clone().ok_or_else(|| {
        anyhow::anyhow!("NINJAVAN_CLIENT_ID is set without NINJAVAN_CLIENT_SECRET")
    })?;
    let country = config
        .ninjavan_country
        .clone()
        .ok_or_else(|| anyhow::anyhow!("NINJAVAN_CLIENT_ID is set without NINJAVAN_COUNTRY"))?;
    let webhook_secret = config
        .ninjavan_webhook_secret
        .clone()
        .unwrap_or_else(|| secret.clone());
    let mut settings = ninjavan::NinjaVanSettings::new(
        client_id,
        secret,
        country.to_ascii_lowercase(),
        webhook_secret,
    );
    if let Some(base) = config
        .ninjavan_api_base
        .as_deref()
        .filter(|b| !b.trim().is_empty())
    {
        base.trim().clone_into(&mut settings.api_base);
    }
    Ok(Some(std::sync::Arc::new(ninjavan::NinjaVan::new(
        settings,
    )?)))
}

/// The seller enters the carrier and the tracking number.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManualShipping;

#[async_trait::async_trait]
impl ShippingProvider for ManualShipping {
    fn name(&self) -> &'static str {
        "manual"
    }

    async fn register(&self, carrier: &str, tracking_number: &str) -> Result<Tracking> {
        let carrier = validate::text("carrier", carrier, 50)?;
        let tracking_number = tracking_number.trim().to_owned();
        if tracking_number.is_empty()
            || tracking_number.len() > 64
            || !tracking_number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error::validation(
                "tracking_number",
                "tracking_number",
                "must be 1 to 64 letters, digits or dashes",
            ));
        }
        let tracking_url = match carrier.to_ascii_lowercase().as_str() {
            "ups" => Some(format!(
                "https://www.ups.com/track?tracknum={tracking_number}"
            )),
            "usps" => Some(format!(
                "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}"
            )),
            "fedex" => Some(format!(
                "https://www.fedex.com/fedextrack/?trknbr={tracking_number}"
            )),
            "dhl" => Some(format!(
                "https://www.dhl.com/en/express/tracking.html?AWB={tracking_number}"
            )),
            _ => None,
        };
        Ok(Tracking {
            carrier,
            tracking_number,
            tracking_url,
        })
    }
}

/// `POST /orders/{id}/ship`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ShipInput {
    /// e.g. `UPS`.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
}

impl Commerce {
    /// The seller (or an admin) hands a paid order to a carrier.
    pub async fn ship_order(&self, caller: Caller, id: Uuid, input: ShipInput) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        if !row.may_manage(caller) {
            return Err(Error::forbidden(
                "only the seller or an admin may ship an order",
            ));
        }
        let status = row.status()?;
        if !status.can_become(OrderStatus::Shipped) {
            return Err(invalid_transition(status, OrderStatus::Shipped));
        }
        let tracking = self
            .shipping
            .register(&input.carrier, &input.tracking_number)
            .await?;
        let now = crate::time::now();
        let provider = self.shipping.name();
        let moved = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = move_order!(tx, id, OrderStatus::Shipped, now);
            if moved {
                sqlx::query("UPDATE orders SET shipped_at = $1 WHERE id = $2")
                    .bind(now).bind(id).execute(&mut *tx).await?;
                let shipment = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO shipments (id, order_id, provider, carrier, tracking_number, tracking_url, \
                     status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'shipped', $7, $7)",
                )
                .bind(shipment).bind(id).bind(provider).bind(&tracking.carrier)
                .bind(&tracking.tracking_number).bind(&tracking.tracking_url).bind(now)
                .execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO shipment_events (id, shipment_id, status, note, at) VALUES ($1, $2, 'shipped', $3, $4)",
                )
                .bind(Uuid::now_v7()).bind(shipment)
                .bind(format!("handed to {}", tracking.carrier)).bind(now)
                .execute(&mut *tx).await?;
                tx.commit().await?;
            }
            moved
        });
        if !moved {
            let current = self.order_row(id).await?.map(|r| r.status()).transpose()?;
            return Err(invalid_transition(
                current.unwrap_or(status),
                OrderStatus::Shipped,
            ));
        }
        self.order(caller, id).await
    }

    /// The seller (or an admin) records that a shipped order arrived.
    pub async fn deliver_order(&self, caller: Caller, id: Uuid) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        if !row.may_manage(caller) {
            return Err(Error::forbidden("only the seller or an admin may do this"));
        }
        let status = row.status()?;
        let now = crate::time::now();
        let moved = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = move_order!(tx, id, OrderStatus::Delivered, now);
            if moved {
                sqlx::query("UPDATE orders SET delivered_at = $1 WHERE id = $2")
                    .bind(now).bind(id).execute(&mut *tx).await?;
                let shipment: Option<Uuid> = sqlx::query_scalar("SELECT id FROM shipments WHERE order_id = $1")
                    .bind(id).fetch_optional(&mut *tx).await?;
                if let Some(shipment) = shipment {
                    sqlx::query("UPDATE shipments SET status = 'delivered', updated_at = $1 WHERE id = $2")
                        .bind(now).bind(shipment).execute(&mut *tx).await?;
                    sqlx::query(
                        "INSERT INTO shipment_events (id, shipment_id, status, note, at) VALUES ($1, $2, 'delivered', NULL, $3)",
                    )
                    .bind(Uuid::now_v7()).bind(shipment).bind(now)
                    .execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            moved
        });
        if !moved {
            return Err(invalid_transition(status, OrderStatus::Delivered));
        }
        self.order(caller, id).await
    }
}

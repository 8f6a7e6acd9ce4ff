//! Stripe webhooks: the `Stripe-Signature` header is verified over the raw
//! body (HMAC-SHA256 of `"{t}.{body}"` with the endpoint secret, `t` within
//! five minutes of now); each event id is stored, in the same transaction as
//! its effects, so a redelivered event changes nothing.
//!
//! Handled: `payment_intent.succeeded` (the order becomes `paid`, its stock
//! sold, when the intent's amount and currency are the order's; otherwise the
//! payment is marked `amount_mismatch`, the order stays unpaid and the
//! mismatch is logged), `payment_intent.payment_failed` (a checkout's stock is released
//! and its order cancelled; an auction order stays payable),
//! `charge.refunded` (the amount refunded so far is recorded; the order
//! becomes `refunded` once all of it is, and a seller already paid out has
//! that much of the transfer reversed), `setup_intent.succeeded` (the card is
//! read back from the gateway and saved), `account.updated` (the seller's
//! payouts are read back and recorded) and
//! `charge.dispute.created` (the payment is marked `disputed`). Other events
//! are acknowledged and ignored.

use crate::Code;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use super::super::Commerce;
use super::super::inventory::{commit_reservations, release_reservations};
use super::super::model::OrderStatus;
use super::super::orders::{move_order, settle_paid};
use crate::error::{Error, Result};
use crate::with_db;

/// How far a signature's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// What the webhook answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// Always true once verified.
    pub received: bool,
    /// The event id.
    pub event_id: String,
    /// True when the event was handled before (nothing changed this time).
    pub duplicate: bool,
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

fn bad_signature(message: &'static str) -> Error {
    Error::Refused {
        code: Code::InvalidSignature,
        message: message.into(),
        details: Default::default(),
    }
}

/// Check a `Stripe-Signature` header (`t=...,v1=...[,v1=...]`) over `payload`.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut timestamp: Option<i64> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let t =
        timestamp.ok_or_else(|| bad_signature("the Stripe-Signature header has no timestamp"))?;
    if (now.timestamp() - t).abs() > TOLERANCE_SECS {
        return Err(bad_signature("the webhook's timestamp is too far from now"));
    }
    for sig in signatures {
        let Ok(expected) = hex::decode(sig) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|_| Error::Internal(anyhow::anyhow!("HMAC takes any key length")))?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(bad_signature("the webhook's signature does not match"))
}

/// The payment intent an event's object is about.
fn intent_of(kind: &str, object: &Value) -> Option<String> {
    let field = if kind.starts_with("payment_intent.") {
        object.get("id")
    } else {
        object.get("payment_intent")
    };
    field.and_then(Value::as_str).map(str::to_owned)
}

/// Why a succeeded intent does not pay an order of `total` in `currency`
/// (`None` when it does): Stripe's amount received (or, without it, the
/// intent's amount) in minor units, and its currency in lower case.
fn amount_mismatch(object: &Value, total: i64, currency: &str) -> Option<String> {
    let amount = object
        .get("amount_received")
        .and_then(Value::as_i64)
        .or_else(|| object.get("amount").and_then(Value::as_i64));
    let paid_currency = object.get("currency").and_then(Value::as_str);
    match (amount, paid_currency) {
        (Some(amount), Some(paid)) if amount == total && paid.eq_ignore_ascii_case(currency) => {
            None
        }
        (amount, paid) => Some(format!(
            "the intent is for {} {}, the order is for {total} {currency}",
            amount.map_or_else(|| "no amount".to_owned(), |a| a.to_string()),
            paid.unwrap_or("no currency"),
        )),
    }
}

fn order_in_metadata(object: &Value) -> Option<Uuid> {
    object
        .get("metadata")
        .and_then(|m| m.get("order_id"))
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

impl Commerce {
    /// Verify and handle one Stripe webhook delivery.
    pub async fn stripe_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookReceipt> {
        let Some(secret) = &self.webhook_secret else {
            return Err(Error::refused(
                Code::StripeNotConfigured,
                "STRIPE_WEBHOOK_SECRET is not set",
            ));
        };
        let header =
            signature.ok_or_else(|| bad_signature("the Stripe-Signature header is missing"))?;
        let now = crate::time::now();
        verify_signature(secret.expose_secret().as_bytes(), header, payload, now)?;
        let event: Event = serde_json::from_slice(payload).map_err(|_| Error::Refused {
            code: Code::InvalidEvent,
            message: "the webhook body is not a Stripe event".into(),
            details: Default::default(),
        })?;
        if matches!(
            event.kind.as_str(),
            "setup_intent.succeeded" | "account.updated"
        ) {
            return self.read_back_event(&event, now).await;
        }
        let intent = intent_of(&event.kind, &event.data.object);
        let refunded_now = match event.kind.as_str() {
            "charge.refunded" => event
                .data
                .object
                .get("amount_refunded")
                .and_then(Value::as_i64),
            _ => None,
        };
        let mut newly_refunded: Option<(Uuid, i64, i64)> = None;
        let meta_order = order_in_metadata(&event.data.object);
        let kind = event.kind.as_str();
        let fresh = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&event.id).bind(kind).bind(now)
            .execute(&mut *tx).await?.rows_affected() == 1;
            if fresh {
                let order: Option<Uuid> = match &intent {
                    Some(intent) => sqlx::query_scalar("SELECT order_id FROM payments WHERE intent_id = $1")
                        .bind(intent).fetch_optional(&mut *tx).await?,
                    None => None,
                }
                .or(meta_order);
                let mismatch = match (kind, order) {
                    ("payment_intent.succeeded", Some(order)) => {
                        let row: Option<(i64, String)> =
                            sqlx::query_as("SELECT total, currency FROM orders WHERE id = $1")
                                .bind(order).fetch_optional(&mut *tx).await?;
                        row.and_then(|(total, currency)| amount_mismatch(&event.data.object, total, &currency))
                    }
                    _ => None,
                };
                let fully_refunded = event.data.object.get("refunded").and_then(Value::as_bool).unwrap_or(true);
                let payment_status = match kind {
                    "payment_intent.succeeded" if mismatch.is_some() => Some("amount_mismatch"),
                    "payment_intent.succeeded" => Some("succeeded"),
                    "payment_intent.payment_failed" => Some("failed"),
                    "charge.refunded" if fully_refunded => Some("refunded"),
                    "charge.refunded" => Some("partially_refunded"),
                    "charge.dispute.created" => Some("disputed"),
                    _ => None,
                };
                if let (Some(status), Some(intent)) = (payment_status, &intent) {
                    sqlx::query("UPDATE payments SET status = $1, updated_at = $2 WHERE intent_id = $3")
                        .bind(status).bind(now).bind(intent).execute(&mut *tx).await?;
                }
                if let Some(order) = order {
                    match kind {
                        "payment_intent.succeeded" if mismatch.is_some() => {
                            tracing::error!(
                                order_id = %order,
                                event_id = %event.id,
                                mismatch = mismatch.as_deref().unwrap_or_default(),
                                "payment succeeded with another amount or currency than the order's: the order stays unpaid; refund it by hand"
                            );
                        }
                        "payment_intent.succeeded" => {
                            let paid = settle_paid!(tx, order, now);
                            if !paid {
                                tracing::warn!(order_id = %order, "payment succeeded for an order that is not awaiting payment; refund it by hand");
                            }
                        }
                        "payment_intent.payment_failed" => {
                            // A checkout holds stock: give it back. An auction
                            // order holds none and stays payable.
                            let held: i64 = sqlx::query_scalar(
                                "SELECT COUNT(*) FROM stock_reservations WHERE order_id = $1 AND status = 'active'",
                            )
                            .bind(order).fetch_one(&mut *tx).await?;
                            if held > 0 && move_order!(tx, order, OrderStatus::Cancelled, now) {
                                release_reservations!(tx, order, now);
                            }
                        }
                        "charge.refunded" => {
                            // Stripe says how much of the charge is refunded
                            // in all: a part leaves the order as it is.
                            let row: Option<(i64, i64)> = sqlx::query_as("SELECT total, refunded FROM orders WHERE id = $1")
                                .bind(order).fetch_optional(&mut *tx).await?;
                            if let Some((total, before)) = row {
                                let after = refunded_now.unwrap_or(total).clamp(before, total);
                                if after > before {
                                    sqlx::query("UPDATE orders SET refunded = $1, updated_at = $2 WHERE id = $3")
                                        .bind(after).bind(now).bind(order).execute(&mut *tx).await?;
                                    newly_refunded = Some((order, after - before, before));
                                }
                                if after >= total && !move_order!(tx, order, OrderStatus::Refunded, now) {
                                    tracing::info!(order_id = %order, "charge refunded for an order that cannot become refunded");
                                }
                            }
                        }
                        "charge.dispute.created" => {
                            tracing::warn!(order_id = %order, "a payment of this order is disputed");
                        }
                        _ => {}
                    }
                }
            }
            tx.commit().await?;
            fresh
        });
        if !fresh {
            tracing::info!(event_id = %event.id, "Stripe event delivered again: ignored");
        }
        if let Some((order, amount, before)) = newly_refunded {
            // A refund made at the gateway after the seller was paid takes
            // that much back from the seller.
            self.reverse_for_refund(order, amount, &format!("blytz-reversal-{order}-{before}"))
                .await?;
        }
        Ok(WebhookReceipt {
            received: true,
            event_id: event.id,
            duplicate: !fresh,
        })
    }

    /// An event whose object is read back from the gateway before it is
    /// trusted: a saved card (`setup_intent.succeeded`) or a connected
    /// account (`account.updated`). The event is recorded only once its
    /// effect is stored, so a failed read-back is retried by the gateway.
    async fn read_back_event(&self, event: &Event, now: DateTime<Utc>) -> Result<WebhookReceipt> {
        let seen: bool = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM stripe_events WHERE id = $1)",
        )
        .bind(&event.id)
        .fetch_one(pool)
        .await)?;
        if !seen {
            let field = |name: &str| event.data.object.get(name).and_then(Value::as_str);
            match event.kind.as_str() {
                "setup_intent.succeeded" => {
                    if let (Some(customer), Some(method)) =
                        (field("customer"), field("payment_method"))
                    {
                        self.store_card(customer, method).await?;
                    }
                }
                _ => {
                    if let Some(account) = field("id") {
                        self.account_updated(account).await?;
                    }
                }
            }
        }
        let fresh = with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.kind)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?
            == 1;
        Ok(WebhookReceipt {
            received: true,
            event_id: event.id.clone(),
            duplicate: !fresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={sig}")
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body_and_the_time() {
        let now = Utc::now();
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(b"whsec", now.timestamp(), body);
        assert!(verify_signature(b"whsec", &good, body, now).is_ok());
        assert!(verify_signature(b"other", &good, body, now).is_err());
        assert!(verify_signature(b"whsec", &good, br#"{"id":"evt_2"}"#, now).is_err());
        let stale = sign(b"whsec", now.timestamp() - TOLERANCE_SECS - 1, body);
        assert!(verify_signature(b"whsec", &stale, body, now).is_err());
        assert!(verify_signature(b"whsec", "v1=00", body, now).is_err());
        assert!(verify_signature(b"whsec", "t=x,v1=zz", body, now).is_err());
        // A second, valid v1 (during secret rotation) is accepted.
        let two = format!("{},v1=deadbeef", good);
        assert!(verify_signature(b"whsec", &two, body, now).is_ok());
    }

    #[test]
    fn an_intent_pays_only_its_own_amount_and_currency() {
        let paid = |o: Value| amount_mismatch(&o, 1599, "USD");
        assert_eq!(
            paid(serde_json::json!({"amount": 1599, "currency": "usd"})),
            None
        );
        assert_eq!(
            paid(serde_json::json!({"amount": 1599, "amount_received": 1599, "currency": "usd"})),
            None
        );
        assert!(paid(serde_json::json!({"amount": 1, "currency": "usd"})).is_some());
        assert!(
            paid(serde_json::json!({"amount": 1599, "amount_received": 1, "currency": "usd"}))
                .is_some()
        );
        assert!(paid(serde_json::json!({"amount": 1599, "currency": "eur"})).is_some());
        assert!(paid(serde_json::json!({"amount": 1599})).is_some());
        assert!(paid(serde_json::json!({"currency": "usd"})).is_some());
        assert!(paid(serde_json::json!({"amount": "1599", "currency": "usd"})).is_some());
    }
}

//! What commerce tells buyers by notice (inbox, socket, email, Web Push):
//! they won, a payment failed, an order shipped, a second-chance offer.
//! Each is written after the change it reports has committed, under a key
//! that makes it once however often the step runs again. A notice that
//! cannot be written is logged, never a failure of the step: the order is
//! what matters, the notice is a courtesy.

use blytz_actors::domain::UserId;
use uuid::Uuid;

use super::Commerce;
use crate::notify::{Kind, Notice, amount_text};
use crate::with_db;

/// The title of an order's first item, for the text of its notices.
async fn order_title(commerce: &Commerce, order: Uuid) -> Option<String> {
    with_db!(&commerce.db, pool => sqlx::query_scalar::<_, String>(
        "SELECT title FROM order_items WHERE order_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(order)
    .fetch_optional(pool)
    .await)
    .ok()
    .flatten()
}

impl Commerce {
    async fn write_notice(&self, notice: Notice) {
        let Some(notifications) = &self.notifications else {
            return;
        };
        if let Err(e) = notifications.notify(notice).await {
            tracing::warn!(error = %e, "could not write a notice");
        }
    }

    /// The winner of the ending in outbox row `outbox_id` is told of their order.
    pub(crate) async fn notice_won_of_ending(&self, outbox_id: Uuid) {
        let key: Option<String> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT key FROM outbox WHERE id = $1",
        )
        .bind(outbox_id)
        .fetch_optional(pool)
        .await)
        .ok()
        .flatten();
        if let Some(auction) = key.and_then(|k| k.parse::<Uuid>().ok()) {
            self.notice_won(auction).await;
        }
    }

    /// The winner of `auction` is told their order is made: pay now (or
    /// their card is being charged).
    pub(crate) async fn notice_won(&self, auction: Uuid) {
        let row: Option<(Uuid, Uuid, i64, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, buyer_id, total, currency FROM orders WHERE auction_id = $1",
        )
        .bind(auction)
        .fetch_optional(pool)
        .await)
        .ok()
        .flatten();
        let Some((order, buyer, total, currency)) = row else {
            return;
        };
        let title = order_title(self, order)
            .await
            .unwrap_or_else(|| "a lot".to_owned());
        let body = if self.takes_cards() {
            format!(
                "You won {title}. Your card on file is charged {}.",
                amount_text(total, &currency)
            )
        } else {
            format!(
                "You won {title}. Pay {} now to have it shipped.",
                amount_text(total, &currency)
            )
        };
        self.write_notice(Notice {
            user: UserId::from(buyer),
            kind: Kind::Won,
            subject: order.to_string(),
            dedup_key: format!("won:{order}"),
            title: format!("You won {title}"),
            body,
            url: format!("/orders/{order}"),
            data: serde_json::json!({"order_id": order, "auction_id": auction, "total": total}),
        })
        .await;
    }

    /// The winner of a giveaway is told of their prize (a zero-price order;
    /// shipping by the seller's rules).
    pub async fn notice_prize(&self, winner: Uuid, order: Uuid, title: &str, giveaway: Uuid) {
        self.write_notice(Notice {
            user: UserId::from(winner),
            kind: Kind::Won,
            subject: order.to_string(),
            dedup_key: format!("won:{order}"),
            title: format!("You won the giveaway: {title}"),
            body: format!("{title} is yours. Check your order for shipping."),
            url: format!("/orders/{order}"),
            data: serde_json::json!({"order_id": order, "giveaway_id": giveaway}),
        })
        .await;
    }

    /// The buyer of `order` is told its payment failed (once per failure
    /// reason and deadline: a retry that fails the same way is not news).
    pub(crate) async fn notice_payment_failed(
        &self,
        buyer: Uuid,
        order: Uuid,
        code: &str,
        reason: &str,
    ) {
        let title = order_title(self, order)
            .await
            .unwrap_or_else(|| "your order".to_owned());
        let attempt: i64 = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE order_id = $1 AND status = 'failed'",
        )
        .bind(order)
        .fetch_one(pool)
        .await)
        .unwrap_or(0);
        self.write_notice(Notice {
            user: UserId::from(buyer),
            kind: Kind::PaymentFailed,
            subject: order.to_string(),
            dedup_key: format!("payment_failed:{order}:{attempt}"),
            title: format!("Payment failed for {title}"),
            body: format!("Your payment for {title} did not go through ({reason}). Pay with another card to keep it."),
            url: format!("/orders/{order}"),
            data: serde_json::json!({"order_id": order, "code": code, "reason": reason}),
        })
        .await;
    }

    /// The buyer of `order` is told it shipped, with the tracking number.
    pub(crate) async fn notice_shipped(
        &self,
        buyer: Uuid,
        order: Uuid,
        carrier: &str,
        tracking_number: Option<&str>,
    ) {
        let title = order_title(self, order)
            .await
            .unwrap_or_else(|| "your order".to_owned());
        let tracking =
            tracking_number.map_or_else(String::new, |n| format!(", tracking number {n}"));
        self.write_notice(Notice {
            user: UserId::from(buyer),
            kind: Kind::OrderShipped,
            subject: order.to_string(),
            dedup_key: format!("order_shipped:{order}"),
            title: format!("{title} is on its way"),
            body: format!("{title} was handed to {carrier}{tracking}."),
            url: format!("/orders/{order}"),
            data: serde_json::json!({"order_id": order, "carrier": carrier, "tracking_number": tracking_number}),
        })
        .await;
    }

    /// The runner-up is told a lot is offered to them.
    pub(crate) async fn notice_second_chance(
        &self,
        buyer: Uuid,
        offer: Uuid,
        auction: Uuid,
        amount: i64,
        currency: &str,
    ) {
        self.write_notice(Notice {
            user: UserId::from(buyer),
            kind: Kind::SecondChance,
            subject: auction.to_string(),
            dedup_key: format!("second_chance:{offer}"),
            title: "A second chance at a lot".to_owned(),
            body: format!(
                "The winner did not pay: the lot is yours at your highest bid, {}, if you want it.",
                amount_text(amount, currency)
            ),
            url: "/orders".to_owned(),
            data: serde_json::json!({"offer_id": offer, "auction_id": auction, "amount": amount}),
        })
        .await;
    }
}

//! Where notices come from, and the loop that makes and delivers them.
//!
//! - **Auctions** tell their durable facts (outbid, a lot started with
//!   pre-bids) through an [`AuctionObserver`] that queues them without
//!   blocking ([`facts_channel`]); the loop turns each into notices. An
//!   outbid notice goes only to a user who is not in the lot's room (the
//!   auction's or its show's) and at most once per lot per
//!   `outbid_coalesce`. Presence is a lookup ([`PresenceIndex`]), so the
//!   outbid fact of a bidder who is watching, as most are, is dropped where
//!   it is observed, on the auction's thread, and never queued. The queue
//!   is bounded and drops when full: a bid never waits for a notice. A
//!   fact queued when the process dies is lost (the journal still has the
//!   bids; only the hint is gone).
//! - **Shows**: each poll looks for shows that went live in the last hour
//!   and shows that start within 15 minutes, and writes an outbox row for
//!   each (`show.live`, `show.soon`, keyed by the show: once ever). An
//!   unprocessed row is fanned out to the seller's followers or the show's
//!   bookmarkers a page at a time; notices are keyed per show and user, so
//!   a row processed twice (a crash, two nodes) writes nothing twice.
//! - **Commerce** writes its notices itself (won, payment failed, shipped,
//!   second chance) after the change they report has committed.

use std::sync::Arc;
use std::time::Duration;

use blytz_actors::auction::{AuctionFact, AuctionObserver};
use blytz_actors::chat::PresenceIndex;
use blytz_actors::domain::{AuctionId, ShowId, UserId};
use blytz_actors::rooms::RoomKey;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::model::{Kind, Notice};
use super::service::Notifications;
use crate::audience::Audience;
use crate::error::Result;
use crate::pagination::{Page, Paged};
use crate::with_db;

/// Facts queued between the auctions and the loop.
pub const FACTS_CAPACITY: usize = 16_384;
/// The outbox topic of a show that went live (key: the show).
pub const SHOW_LIVE_TOPIC: &str = "show.live";
/// The outbox topic of a show starting soon (key: the show).
pub const SHOW_SOON_TOPIC: &str = "show.soon";
/// How long before its start a bookmarked show is announced.
pub const STARTING_SOON: Duration = Duration::from_secs(15 * 60);
/// A show that went live longer ago than this is not announced (a server
/// that was down when it did).
const LIVE_ANNOUNCE_WINDOW: Duration = Duration::from_secs(60 * 60);
/// Followers or bookmarkers told per transaction.
const FAN_OUT_PAGE: u32 = 100;

/// The observer handed to the engine: queues facts for the loop.
#[derive(Debug, Clone)]
pub struct QueuedFacts {
    queue: mpsc::Sender<AuctionFact>,
    presence: PresenceIndex,
}

impl AuctionObserver for QueuedFacts {
    fn observe(&self, fact: AuctionFact) {
        if let AuctionFact::Outbid {
            auction_id,
            show_id,
            user,
            ..
        } = &fact
            && in_room(&self.presence, *auction_id, *show_id, *user)
        {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(fact)) = self.queue.try_send(fact) {
            metrics::counter!("blytz_notify_facts_dropped_total").increment(1);
            tracing::warn!(?fact, "the notification queue is full; a notice is dropped");
        }
    }
}

/// Where the loop reads the auctions' facts.
#[derive(Debug)]
pub struct Facts(mpsc::Receiver<AuctionFact>);

/// An observer for the engine and the receiving end for the loop; the
/// chat rooms keep `presence` (see `ChatHub::start`).
pub fn facts_channel(presence: PresenceIndex) -> (Arc<dyn AuctionObserver>, Facts) {
    let (queue, facts) = mpsc::channel(FACTS_CAPACITY);
    (Arc::new(QueuedFacts { queue, presence }), Facts(facts))
}

/// What the loop needs besides the service.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Who is in which room (the chat rooms keep it).
    pub presence: PresenceIndex,
    /// Who follows whom, who bookmarked what.
    pub audience: Audience,
}

/// The outbid notices written lately, so that a bidding war costs the
/// database one look-up per lot and user a minute, not one per bid. The
/// stored notices stay the rule (another node, a restart); this only skips
/// what is certainly within the coalescing time. A buyer in the room is not
/// told, so not remembered: they are asked about again at the next outbid.
#[derive(Debug, Default)]
struct RecentOutbids {
    seen: std::collections::HashMap<(AuctionId, UserId), DateTime<Utc>>,
}

impl RecentOutbids {
    /// Whether `user` was told of an outbid on `auction` within `window`
    /// before `at`.
    fn told_within(
        &self,
        auction: AuctionId,
        user: UserId,
        at: DateTime<Utc>,
        window: Duration,
    ) -> bool {
        self.seen
            .get(&(auction, user))
            .is_some_and(|told| *told > crate::time::earlier(at, window))
    }

    /// `user` was told of an outbid on `auction` at `at`.
    fn told(&mut self, auction: AuctionId, user: UserId, at: DateTime<Utc>, window: Duration) {
        if self.seen.len() > 100_000 {
            let after = crate::time::earlier(at, window);
            self.seen.retain(|_, told| *told > after);
        }
        self.seen.insert((auction, user), at);
    }
}

/// `minor` units of `currency` as people read them (two decimals, none for
/// currencies without minor units).
pub fn amount_text(minor: i64, currency: &str) -> String {
    if matches!(currency, "JPY" | "KRW" | "VND" | "CLP" | "ISK") {
        return format!("{minor} {currency}");
    }
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

#[derive(Debug, sqlx::FromRow)]
struct LotRow {
    title: String,
    currency: String,
}

#[derive(Debug, sqlx::FromRow)]
struct ShowRow {
    id: Uuid,
    seller_id: Uuid,
    title: String,
    seller_name: String,
    scheduled_at: DateTime<Utc>,
}

impl Notifications {
    /// Runs until the process stops: notices from `facts` as they come,
    /// and every poll (or nudge) the shows' announcements and the
    /// deliveries that are due.
    pub async fn run(self, facts: Facts, sources: Sources) {
        // Two loops side by side: a slow mail server or push service holds
        // up deliveries, never the reading of the auctions' facts.
        tokio::join!(
            self.read_facts(facts, &sources),
            self.poll(&sources.audience)
        );
    }

    async fn read_facts(&self, mut facts: Facts, sources: &Sources) {
        let mut recent = RecentOutbids::default();
        let window = self.settings.outbid_coalesce;
        while let Some(fact) = facts.0.recv().await {
            let outbid = match &fact {
                AuctionFact::Outbid {
                    auction_id,
                    user,
                    at,
                    ..
                } => Some((*auction_id, *user, *at)),
                AuctionFact::Started { .. } => None,
            };
            if let Some((auction, user, at)) = outbid
                && recent.told_within(auction, user, at, window)
            {
                continue;
            }
            match self.on_fact(fact, sources).await {
                Ok(made) => {
                    if let Some((auction, user, at)) = outbid
                        && made > 0
                    {
                        recent.told(auction, user, at, window);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not make an auction's notice"),
            }
        }
    }

    async fn poll(&self, audience: &Audience) {
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.nudge.notified() => {}
            }
            if let Err(e) = self.announce_shows(audience).await {
                tracing::warn!(error = %e, "could not announce shows");
            }
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "could not deliver notices");
            }
        }
    }

    /// The notices of one auction fact.
    pub async fn on_fact(&self, fact: AuctionFact, sources: &Sources) -> Result<usize> {
        match fact {
            AuctionFact::Outbid {
                auction_id,
                show_id,
                user,
                seq,
                price,
                at,
            } => {
                // Asked again: the bidder may have come into the room since
                // the fact was observed.
                if in_room(&sources.presence, auction_id, show_id, user)
                    || self.outbid_lately(auction_id, user, at).await?
                {
                    return Ok(0);
                }
                let Some(lot) = self.lot(auction_id).await? else {
                    return Ok(0);
                };
                let notice = Notice {
                    user,
                    kind: Kind::Outbid,
                    subject: auction_id.to_string(),
                    dedup_key: format!("outbid:{auction_id}:{user}:{seq}"),
                    title: format!("You were outbid on {}", lot.title),
                    body: format!(
                        "Someone bid higher on {}: the price is now {}.",
                        lot.title,
                        amount_text(price, &lot.currency)
                    ),
                    url: lot_url(auction_id, show_id),
                    data: serde_json::json!({"auction_id": auction_id, "show_id": show_id, "price": price}),
                };
                Ok(usize::from(self.notify(notice).await?))
            }
            AuctionFact::Started {
                auction_id,
                show_id,
                bidders,
                ..
            } => {
                if bidders.is_empty() {
                    return Ok(0);
                }
                let Some(lot) = self.lot(auction_id).await? else {
                    return Ok(0);
                };
                let notices: Vec<Notice> = bidders
                    .into_iter()
                    .map(|user| Notice {
                        user,
                        kind: Kind::LotStarted,
                        subject: auction_id.to_string(),
                        dedup_key: format!("lot_started:{auction_id}:{user}"),
                        title: format!("{} is live", lot.title),
                        body: format!(
                            "The lot you pre-bid on, {}, has started: your pre-bid is in.",
                            lot.title
                        ),
                        url: lot_url(auction_id, show_id),
                        data: serde_json::json!({"auction_id": auction_id, "show_id": show_id}),
                    })
                    .collect();
                self.notify_all(&notices).await
            }
        }
    }

    /// Whether `user` got an outbid notice for `auction` within the
    /// coalescing time before `at`.
    async fn outbid_lately(
        &self,
        auction: AuctionId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let after = crate::time::earlier(at, self.settings.outbid_coalesce);
        Ok(with_db!(&self.db, pool => sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE user_id = $1 AND kind = 'outbid' \
             AND subject = $2 AND created_at > $3)",
        )
        .bind(Uuid::from(user))
        .bind(auction.to_string())
        .bind(after)
        .fetch_one(pool)
        .await)?)
    }

    async fn lot(&self, auction: AuctionId) -> Result<Option<LotRow>> {
        Ok(with_db!(&self.db, pool => sqlx::query_as::<_, LotRow>(
            "SELECT p.title, a.currency FROM auctions a JOIN products p ON p.id = a.product_id WHERE a.id = $1",
        )
        .bind(Uuid::from(auction))
        .fetch_optional(pool)
        .await)?)
    }

    /// Writes the outbox rows of shows that went live or start soon, then
    /// fans out every unprocessed one. Answers how many notices were new.
    pub async fn announce_shows(&self, audience: &Audience) -> Result<usize> {
        let now = crate::time::now();
        self.queue_announcements(now).await?;
        let rows: Vec<(Uuid, String, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, topic, key FROM outbox WHERE topic IN ($1, $2) AND processed_at IS NULL \
             ORDER BY created_at LIMIT 20",
        )
        .bind(SHOW_LIVE_TOPIC)
        .bind(SHOW_SOON_TOPIC)
        .fetch_all(pool)
        .await)?;
        let mut made = 0;
        for (id, _, _) in rows {
            made += self.process_announcement(id, audience).await?;
        }
        Ok(made)
    }

    async fn queue_announcements(&self, now: DateTime<Utc>) -> Result<()> {
        let live: Vec<(Uuid,)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id FROM shows WHERE status = 'live' AND started_at >= $1",
        )
        .bind(crate::time::earlier(now, LIVE_ANNOUNCE_WINDOW))
        .fetch_all(pool)
        .await)?;
        let soon: Vec<(Uuid,)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id FROM shows WHERE status = 'scheduled' AND scheduled_at > $1 AND scheduled_at <= $2",
        )
        .bind(now)
        .bind(crate::time::later(now, STARTING_SOON))
        .fetch_all(pool)
        .await)?;
        let rows = live
            .into_iter()
            .map(|(id,)| (SHOW_LIVE_TOPIC, id))
            .chain(soon.into_iter().map(|(id,)| (SHOW_SOON_TOPIC, id)));
        for (topic, show) in rows {
            with_db!(&self.db, pool => sqlx::query(
                "INSERT INTO outbox (id, topic, key, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (topic, key) DO NOTHING",
            )
            .bind(Uuid::now_v7())
            .bind(topic)
            .bind(show.to_string())
            .bind(Json(serde_json::json!({"show_id": show})))
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        }
        Ok(())
    }

    /// Fans one `show.live` or `show.soon` outbox row out to its audience
    /// and marks it processed. Safe to run again on the same row: the
    /// notices are keyed per show and user. Answers how many were new.
    pub async fn process_announcement(
        &self,
        outbox_id: Uuid,
        audience: &Audience,
    ) -> Result<usize> {
        let row: Option<(String, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT topic, key FROM outbox WHERE id = $1",
        )
        .bind(outbox_id)
        .fetch_optional(pool)
        .await)?;
        let Some((topic, key)) = row else {
            return Ok(0);
        };
        let Ok(show_id) = key.parse::<Uuid>() else {
            return Ok(0);
        };
        let show: Option<ShowRow> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT s.id, s.seller_id, s.title, u.display_name AS seller_name, s.scheduled_at \
             FROM shows s JOIN users u ON u.id = s.seller_id WHERE s.id = $1",
        )
        .bind(show_id)
        .fetch_optional(pool)
        .await)?;
        let mut made = 0;
        if let Some(show) = show {
            let kind = if topic == SHOW_LIVE_TOPIC {
                Kind::ShowLive
            } else {
                Kind::ShowStarting
            };
            let mut page = Page {
                limit: Some(FAN_OUT_PAGE),
                cursor: None,
            };
            loop {
                let audience_page: Paged<UserId> = match kind {
                    Kind::ShowLive => {
                        audience
                            .followers_of(UserId::from(show.seller_id), &page)
                            .await?
                    }
                    _ => {
                        audience
                            .bookmarkers_of(ShowId::from(show.id), &page)
                            .await?
                    }
                };
                let notices: Vec<Notice> = audience_page
                    .items
                    .iter()
                    .map(|user| announcement(kind, &show, *user))
                    .collect();
                made += self.notify_all(&notices).await?;
                match audience_page.next_cursor {
                    Some(cursor) => page.cursor = Some(cursor),
                    None => break,
                }
            }
        }
        with_db!(&self.db, pool => sqlx::query(
            "UPDATE outbox SET processed_at = $2, attempts = attempts + 1 WHERE id = $1",
        )
        .bind(outbox_id)
        .bind(crate::time::now())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(made)
    }
}

fn announcement(kind: Kind, show: &ShowRow, user: UserId) -> Notice {
    let (title, body, key) = match kind {
        Kind::ShowLive => (
            format!("{} is live", show.seller_name),
            format!("{} went live: {}", show.seller_name, show.title),
            "show_live",
        ),
        _ => (
            format!("{} starts soon", show.title),
            format!(
                "{} by {} starts at {} UTC.",
                show.title,
                show.seller_name,
                show.scheduled_at.format("%H:%M")
            ),
            "show_starting",
        ),
    };
    Notice {
        user,
        kind,
        subject: show.id.to_string(),
        dedup_key: format!("{key}:{}:{user}", show.id),
        title,
        body,
        url: format!("/shows/{}", show.id),
        data: serde_json::json!({"show_id": show.id, "seller_id": show.seller_id}),
    }
}

/// Where the web client shows a lot.
fn lot_url(auction: AuctionId, show: Option<ShowId>) -> String {
    match show {
        Some(show) => format!("/shows/{show}"),
        None => format!("/auctions/{auction}"),
    }
}

/// Whether `user` has a connection in the auction's room or its show's.
fn in_room(
    presence: &PresenceIndex,
    auction: AuctionId,
    show: Option<ShowId>,
    user: UserId,
) -> bool {
    presence.contains(RoomKey::Auction(auction), user)
        || show.is_some_and(|show| presence.contains(RoomKey::Show(show), user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lot_and_user_are_outbid_once_a_window() {
        let (lot, other_lot) = (AuctionId::new(), AuctionId::new());
        let (ann, bob) = (UserId::from(Uuid::now_v7()), UserId::from(Uuid::now_v7()));
        let minute = Duration::from_secs(60);
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |secs| t0 + chrono::Duration::seconds(secs);
        let mut recent = RecentOutbids::default();
        assert!(!recent.told_within(lot, ann, at(0), minute));
        recent.told(lot, ann, at(0), minute);
        assert!(recent.told_within(lot, ann, at(30), minute));
        assert!(
            !recent.told_within(lot, bob, at(30), minute),
            "another user"
        );
        assert!(
            !recent.told_within(other_lot, ann, at(30), minute),
            "another lot"
        );
        assert!(recent.told_within(lot, ann, at(59), minute));
        assert!(!recent.told_within(lot, ann, at(61), minute), "a minute on");
    }

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(amount_text(2500, "USD"), "25.00 USD");
        assert_eq!(amount_text(5, "EUR"), "0.05 EUR");
        assert_eq!(amount_text(-1250, "SGD"), "-12.50 SGD");
        assert_eq!(amount_text(1500, "JPY"), "1500 JPY");
        assert_eq!(amount_text(i64::MIN, "USD"), "-92233720368547758.08 USD");
    }
}

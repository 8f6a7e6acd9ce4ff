//! Notices as the API shows them, and the kinds there are.

use blytz_actors::domain::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Someone bid higher on a lot the user led (only when the user is not
    /// in its room; at most one per lot per minute).
    Outbid,
    /// A seller the user follows went live.
    ShowLive,
    /// A show the user bookmarked starts within 15 minutes.
    ShowStarting,
    /// A lot the user pre-bid on started.
    LotStarted,
    /// The user won a lot: pay now (or it is being charged).
    Won,
    /// A payment of the user's failed.
    PaymentFailed,
    /// An order of the user's was shipped.
    OrderShipped,
    /// A lot the winner did not pay for is offered to the user.
    SecondChance,
}

impl Kind {
    /// Every kind, in the order preferences list them.
    pub const ALL: [Kind; 8] = [
        Kind::Outbid,
        Kind::ShowLive,
        Kind::ShowStarting,
        Kind::LotStarted,
        Kind::Won,
        Kind::PaymentFailed,
        Kind::OrderShipped,
        Kind::SecondChance,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Outbid => "outbid",
            Kind::ShowLive => "show_live",
            Kind::ShowStarting => "show_starting",
            Kind::LotStarted => "lot_started",
            Kind::Won => "won",
            Kind::PaymentFailed => "payment_failed",
            Kind::OrderShipped => "order_shipped",
            Kind::SecondChance => "second_chance",
        }
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A notice in a user's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Notification {
    /// The notice (time-ordered: newer notices have larger ids).
    #[schema(format = Uuid)]
    pub id: Uuid,
    /// What it is about.
    pub kind: Kind,
    /// One line.
    pub title: String,
    /// A sentence or two.
    pub body: String,
    /// Where the web client shows it (a path on this server).
    pub url: String,
    /// The ids it is about (`auction_id`, `show_id`, `order_id`, ...).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// When it was made.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the user marked it read.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<DateTime<Utc>>,
}

/// A notice to write: who, what, and the key that makes it once.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Who is told.
    pub user: UserId,
    /// What about.
    pub kind: Kind,
    /// The auction, show or order it is about (outbid notices are
    /// coalesced per subject).
    pub subject: String,
    /// One notice per key, e.g. `outbid:<auction>:<user>:<seq>`.
    pub dedup_key: String,
    /// One line.
    pub title: String,
    /// A sentence or two.
    pub body: String,
    /// Where the web client shows it.
    pub url: String,
    /// The ids it is about.
    pub data: serde_json::Value,
}

/// The channels of one kind of notice. The inbox and open sockets always
/// get every notice; email and Web Push are the user's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KindPreference {
    /// The kind.
    pub kind: Kind,
    /// By email.
    pub email: bool,
    /// By Web Push.
    pub push: bool,
}

/// `GET`/`PUT /api/v1/notifications/preferences`: one entry per kind (a
/// `PUT` may list only the kinds it changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preferences {
    /// The kinds and their channels.
    pub preferences: Vec<KindPreference>,
}

/// `POST /api/v1/notifications/read`: the notices to mark read, or all.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct MarkRead {
    /// These notices (at most 100).
    #[serde(default)]
    pub ids: Vec<Uuid>,
    /// Every unread notice instead.
    #[serde(default)]
    pub all: bool,
}

/// The keys of a browser's push subscription.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PushKeys {
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
}

/// `POST /api/v1/push/subscriptions`: `PushSubscription.toJSON()` as the
/// browser gives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewPushSubscription {
    /// The push service's URL for this subscription (https).
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

/// A stored push subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PushSubscriptionView {
    /// The subscription.
    #[schema(format = Uuid)]
    pub id: Uuid,
    /// The push service's URL.
    pub endpoint: String,
    /// When it was stored.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

//! The notification service: each notice is written once, to the user's
//! inbox and open sockets, and queued for email and Web Push by their
//! preferences; a delivery step sends what is due and retries failures
//! with back-off.
//!
//! Written once: a notice's `dedup_key` is unique, so the event that makes
//! it may be processed any number of times. Its deliveries (one for email,
//! one per push subscription) are made in the notice's transaction, and a
//! delivery is claimed before it is sent (`attempts + 1` and a lease on
//! `next_attempt_at`, in one conditional update), so two nodes never send
//! the same one. A crash between the send and the record of it sends it
//! again: at least once, never twice on purpose.

use std::sync::Arc;
use std::time::Duration;

use blytz_actors::domain::UserId;
use blytz_actors::rooms::{Frame, RoomKey, Rooms};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use sqlx::types::Json;
use uuid::Uuid;

use super::email::{DeliveryError, Email, unsubscribe_token, verify_unsubscribe};
use super::model::{
    Kind, KindPreference, MarkRead, NewPushSubscription, Notice, Notification, Preferences,
    PushSubscriptionView,
};
use super::push::{PushError, PushSubscription, WebPush};
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// How long a claimed delivery is left to its sender before another may
/// take it (longer than any send's timeout).
const LEASE: Duration = Duration::from_secs(120);
/// Deliveries looked at per step.
const DELIVERY_BATCH: i64 = 64;
/// Deliveries sent at once.
const DELIVERY_CONCURRENCY: usize = 8;
/// How long the push service keeps a notice for an offline browser.
const PUSH_TTL_SECS: u32 = 24 * 60 * 60;
/// How much of a failure is kept on the delivery row.
const MAX_ERROR_LEN: usize = 500;

/// Tuning of the notification service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifySettings {
    /// The first wait after a failed delivery; it doubles each time.
    pub retry_first: Duration,
    /// The longest wait between two tries.
    pub retry_max: Duration,
    /// Tries before a delivery is given up.
    pub max_attempts: u32,
    /// At most one outbid notice per lot and user in this time.
    pub outbid_coalesce: Duration,
    /// How often the loop looks for work.
    pub poll: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

impl NotifySettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            retry_first: Duration::from_millis(config.notify_retry_first_ms.max(1)),
            retry_max: Duration::from_secs(config.notify_retry_max_secs.max(1)),
            max_attempts: config.notify_max_attempts.max(1),
            outbid_coalesce: Duration::from_secs(config.outbid_coalesce_secs),
            poll: Duration::from_millis(config.notify_poll_ms.max(10)),
        }
    }

    /// The wait after the `attempts`-th failed try.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.retry_first
            .saturating_mul(1_u32 << doublings)
            .min(self.retry_max)
    }
}

/// Notices, their inbox, preferences and deliveries.
#[derive(Clone)]
pub struct Notifications {
    pub(super) db: Db,
    pub(super) settings: NotifySettings,
    rooms: Option<Rooms>,
    email: Option<Email>,
    push: Option<WebPush>,
    allow_plain_http: bool,
    /// Signs unsubscribe links (a secret).
    unsubscribe_secret: Arc<[u8]>,
    public_url: Arc<str>,
    /// Wakes the loop early (a notice was written).
    pub(super) nudge: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("email", &self.email.is_some())
            .field("push", &self.push.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, sqlx::FromRow)]
struct NotificationRow {
    id: Uuid,
    kind: String,
    title: String,
    body: String,
    url: String,
    data: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

impl NotificationRow {
    fn into_notification(self) -> Result<Notification> {
        Ok(Notification {
            id: self.id,
            kind: Kind::parse(&self.kind).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("notice {} has an unknown kind", self.id))
            })?,
            title: self.title,
            body: self.body,
            url: self.url,
            data: self.data.0,
            created_at: self.created_at,
            read_at: self.read_at,
        })
    }
}

const NOTIFICATION_COLUMNS: &str = "id, kind, title, body, url, data, created_at, read_at";

#[derive(Debug, sqlx::FromRow)]
struct DueRow {
    id: Uuid,
    channel: String,
    target: String,
    attempts: i64,
    notification_id: Uuid,
    user_id: Uuid,
    kind: String,
    title: String,
    body: String,
    url: String,
    email: String,
}

/// How one delivery went.
enum Sent {
    Done,
    Retry(String, Option<Duration>),
    Failed(String),
    /// The push subscription is gone: delete it.
    Gone(String),
}

fn clipped(text: &str) -> String {
    text.chars().take(MAX_ERROR_LEN).collect()
}

impl Notifications {
    /// The service over `db`: email through `email`, Web Push through
    /// `push` (either may be absent), unsubscribe links signed with
    /// `unsubscribe_secret` and pointing at `public_url`.
    pub fn new(
        db: Db,
        settings: NotifySettings,
        email: Option<Email>,
        push: Option<WebPush>,
        unsubscribe_secret: &[u8],
        public_url: &str,
    ) -> Self {
        Self {
            db,
            settings,
            rooms: None,
            email,
            push,
            allow_plain_http: false,
            unsubscribe_secret: Arc::from(unsubscribe_secret),
            public_url: Arc::from(public_url.trim_end_matches('/')),
            nudge: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The service as `config` describes it: email when `SMTP_URL` is set,
    /// Web Push when `BLYTZ_VAPID_PRIVATE_KEY` is.
    pub fn from_config(db: Db, config: &Config) -> anyhow::Result<Self> {
        let email = match &config.smtp_url {
            Some(url) if !url.expose_secret().trim().is_empty() => {
                Some(Email::new(url, &config.mail_from)?)
            }
            _ => None,
        };
        let push = match &config.vapid_private_key {
            Some(key) if !key.expose_secret().trim().is_empty() => {
                let push = WebPush::new(key, &config.vapid_subject)?;
                Some(if config.push_allow_http {
                    push.allow_plain_http()
                } else {
                    push
                })
            }
            _ => None,
        };
        let secret = config.jwt_secret_bytes()?;
        let mut service = Self::new(
            db,
            NotifySettings::from_config(config),
            email,
            push,
            secret,
            &config.public_url,
        );
        service.allow_plain_http = config.push_allow_http;
        Ok(service)
    }

    /// The same service, telling open sockets through `rooms`.
    #[must_use]
    pub fn with_rooms(mut self, rooms: Rooms) -> Self {
        self.rooms = Some(rooms);
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// The VAPID public key browsers subscribe with (none without Web Push).
    pub fn vapid_public_key(&self) -> Option<String> {
        self.push.as_ref().map(WebPush::public_key)
    }

    /// Wake the loop now.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    fn secret(&self) -> &[u8] {
        &self.unsubscribe_secret
    }

    /// The link that stops `kind` by email for `user`, without signing in.
    pub fn unsubscribe_url(&self, user: UserId, kind: Kind) -> String {
        format!(
            "{}/api/v1/notifications/unsubscribe?token={}",
            self.public_url,
            unsubscribe_token(self.secret(), user.into(), kind.as_str())
        )
    }

    /// Writes `notices` (each once: one already written is skipped), with
    /// their deliveries by the users' preferences, in one transaction; then
    /// tells the users' open sockets. Answers how many were new.
    pub async fn notify_all(&self, notices: &[Notice]) -> Result<usize> {
        if notices.is_empty() {
            return Ok(0);
        }
        let now = crate::time::now();
        let (email_on, push_on) = (self.email.is_some(), self.push.is_some());
        let written: Vec<(Uuid, &Notice)> = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut written = Vec::new();
            for notice in notices {
                let id = Uuid::now_v7();
                let inserted = sqlx::query(
                    "INSERT INTO notifications (id, user_id, kind, subject, dedup_key, title, body, url, data, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(id)
                .bind(Uuid::from(notice.user))
                .bind(notice.kind.as_str())
                .bind(&notice.subject)
                .bind(&notice.dedup_key)
                .bind(&notice.title)
                .bind(&notice.body)
                .bind(&notice.url)
                .bind(Json(&notice.data))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    continue;
                }
                let wanted: Option<(bool, bool)> = sqlx::query_as(
                    "SELECT email, push FROM notification_preferences WHERE user_id = $1 AND kind = $2",
                )
                .bind(Uuid::from(notice.user))
                .bind(notice.kind.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let (email, push) = wanted.unwrap_or((true, true));
                if email && email_on {
                    sqlx::query(
                        "INSERT INTO notification_deliveries (id, notification_id, channel, target, status, next_attempt_at) \
                         VALUES ($1, $2, 'email', '', 'pending', $3)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                if push && push_on {
                    let targets: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT id FROM push_subscriptions WHERE user_id = $1 ORDER BY id",
                    )
                    .bind(Uuid::from(notice.user))
                    .fetch_all(&mut *tx)
                    .await?;
                    for (subscription,) in targets {
                        sqlx::query(
                            "INSERT INTO notification_deliveries (id, notification_id, channel, target, status, next_attempt_at) \
                             VALUES ($1, $2, 'push', $3, 'pending', $4)",
                        )
                        .bind(Uuid::now_v7())
                        .bind(id)
                        .bind(subscription.to_string())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                written.push((id, notice));
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(written)
        })?;
        for (id, notice) in &written {
            self.tell(*id, notice, now);
        }
        if !written.is_empty() {
            self.nudge();
        }
        Ok(written.len())
    }

    /// Writes one notice; answers whether it was new.
    pub async fn notify(&self, notice: Notice) -> Result<bool> {
        Ok(self.notify_all(std::slice::from_ref(&notice)).await? > 0)
    }

    /// The `notification` frame on the user's open sockets.
    fn tell(&self, id: Uuid, notice: &Notice, at: DateTime<Utc>) {
        let Some(rooms) = &self.rooms else { return };
        let notification = Notification {
            id,
            kind: notice.kind,
            title: notice.title.clone(),
            body: notice.body.clone(),
            url: notice.url.clone(),
            data: notice.data.clone(),
            created_at: at,
            read_at: None,
        };
        let frame = serde_json::json!({"type": "notification", "notification": notification});
        rooms.publish(
            RoomKey::User(notice.user),
            Frame::new(None, bytes::Bytes::from(frame.to_string())),
        );
    }

    /// A page of `user`'s inbox, newest first.
    pub async fn inbox(&self, user: UserId, page: &Page) -> Result<Paged<Notification>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE user_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        ));
        let rows: Vec<NotificationRow> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(Uuid::from(user))
            .bind(before)
            .bind(fetch_size(limit))
            .fetch_all(pool)
            .await)?;
        let rows = Paged::from_rows(rows, limit, |last| last.id.to_string());
        let items = rows
            .items
            .into_iter()
            .map(NotificationRow::into_notification)
            .collect::<Result<Vec<_>>>()?;
        Ok(Paged {
            items,
            next_cursor: rows.next_cursor,
        })
    }

    /// How many of `user`'s notices are unread.
    pub async fn unread_count(&self, user: UserId) -> Result<u64> {
        let count: i64 = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(Uuid::from(user))
        .fetch_one(pool)
        .await)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Marks `user`'s notices read (the listed ones, or all); another
    /// user's ids are left alone. Answers how many changed.
    pub async fn mark_read(&self, user: UserId, which: &MarkRead) -> Result<u64> {
        if !which.all && which.ids.is_empty() {
            return Err(Error::validation(
                "ids",
                "required",
                "list the notices to mark read, or say all",
            ));
        }
        if which.ids.len() > crate::pagination::MAX_LIMIT as usize {
            return Err(Error::validation(
                "ids",
                "max_items",
                format!("at most {} ids", crate::pagination::MAX_LIMIT),
            ));
        }
        let now = crate::time::now();
        if which.all {
            return Ok(with_db!(&self.db, pool => sqlx::query(
                "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
            )
            .bind(Uuid::from(user))
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?);
        }
        let mut changed = 0;
        for id in &which.ids {
            changed += with_db!(&self.db, pool => sqlx::query(
                "UPDATE notifications SET read_at = $3 WHERE id = $1 AND user_id = $2 AND read_at IS NULL",
            )
            .bind(id)
            .bind(Uuid::from(user))
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(changed)
    }

    /// `user`'s channels for every kind (a kind never set has both on).
    pub async fn preferences(&self, user: UserId) -> Result<Preferences> {
        let rows: Vec<(String, bool, bool)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT kind, email, push FROM notification_preferences WHERE user_id = $1",
        )
        .bind(Uuid::from(user))
        .fetch_all(pool)
        .await)?;
        let preferences = Kind::ALL
            .into_iter()
            .map(|kind| {
                rows.iter().find(|(k, _, _)| k == kind.as_str()).map_or(
                    KindPreference {
                        kind,
                        email: true,
                        push: true,
                    },
                    |(_, email, push)| KindPreference {
                        kind,
                        email: *email,
                        push: *push,
                    },
                )
            })
            .collect();
        Ok(Preferences { preferences })
    }

    /// Sets `user`'s channels for the listed kinds; answers them all.
    pub async fn set_preferences(&self, user: UserId, wanted: &Preferences) -> Result<Preferences> {
        let mut kinds: Vec<Kind> = wanted.preferences.iter().map(|p| p.kind).collect();
        kinds.sort_by_key(|k| k.as_str());
        kinds.dedup();
        if kinds.len() != wanted.preferences.len() {
            return Err(Error::validation(
                "preferences",
                "unique_kinds",
                "list each kind at most once",
            ));
        }
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for p in &wanted.preferences {
                sqlx::query(
                    "INSERT INTO notification_preferences (user_id, kind, email, push) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, kind) DO UPDATE SET email = excluded.email, push = excluded.push",
                )
                .bind(Uuid::from(user))
                .bind(p.kind.as_str())
                .bind(p.email)
                .bind(p.push)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        self.preferences(user).await
    }

    /// Turns email off for the user and kind an unsubscribe link names
    /// (no sign-in: the link's signature is the proof). Answers the kind.
    pub async fn unsubscribe(&self, token: &str) -> Result<Kind> {
        let invalid = || Error::code_only(crate::Code::InvalidLink);
        let (user, kind) = verify_unsubscribe(self.secret(), token).ok_or_else(invalid)?;
        let kind = Kind::parse(&kind).ok_or_else(invalid)?;
        let user = UserId::from(user);
        let current = self
            .preferences(user)
            .await?
            .preferences
            .into_iter()
            .find(|p| p.kind == kind)
            .is_none_or(|p| p.push);
        let exists = crate::accounts::role_of(&self.db, user).await?.is_some();
        if exists {
            self.set_preferences(
                user,
                &Preferences {
                    preferences: vec![KindPreference {
                        kind,
                        email: false,
                        push: current,
                    }],
                },
            )
            .await?;
        }
        Ok(kind)
    }

    /// Stores a browser's push subscription for `user` (the same endpoint
    /// again replaces its keys, and moves to `user` if another account had
    /// it: one browser, one subscription).
    pub async fn subscribe_push(
        &self,
        user: UserId,
        new: &NewPushSubscription,
    ) -> Result<PushSubscriptionView> {
        let Some(push) = &self.push else {
            return Err(Error::refused(
                crate::Code::PushNotConfigured,
                "this server does not send Web Push",
            ));
        };
        let subscription = PushSubscription {
            endpoint: new.endpoint.trim().to_owned(),
            p256dh: new.keys.p256dh.trim().to_owned(),
            auth: new.keys.auth.trim().to_owned(),
        };
        push.check_subscription(&subscription)
            .map_err(|reason| Error::validation("endpoint", "push_subscription", reason))?;
        let now = crate::time::now();
        let row: (Uuid, String, DateTime<Utc>) = with_db!(&self.db, pool => sqlx::query_as(
            "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth \
             RETURNING id, endpoint, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(Uuid::from(user))
        .bind(&subscription.endpoint)
        .bind(&subscription.p256dh)
        .bind(&subscription.auth)
        .bind(now)
        .fetch_one(pool)
        .await)?;
        Ok(PushSubscriptionView {
            id: row.0,
            endpoint: row.1,
            created_at: row.2,
        })
    }

    /// Deletes one of `user`'s push subscriptions (404 if it is not theirs).
    pub async fn unsubscribe_push(&self, user: UserId, id: Uuid) -> Result<()> {
        let gone = with_db!(&self.db, pool => sqlx::query(
            "DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(Uuid::from(user))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if gone == 0 {
            return Err(Error::NotFound {
                what: "push subscription",
            });
        }
        Ok(())
    }

    /// `user`'s push subscriptions.
    pub async fn push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscriptionView>> {
        let rows: Vec<(Uuid, String, DateTime<Utc>)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, endpoint, created_at FROM push_subscriptions WHERE user_id = $1 ORDER BY id",
        )
        .bind(Uuid::from(user))
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, endpoint, created_at)| PushSubscriptionView {
                id,
                endpoint,
                created_at,
            })
            .collect())
    }

    /// Sends the deliveries that are due (a batch); answers how many were
    /// sent. Failures wait their back-off; a push subscription the push
    /// service says is gone is deleted.
    pub async fn deliver_due(&self) -> Result<usize> {
        let now = crate::time::now();
        let due: Vec<DueRow> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT d.id, d.channel, d.target, CAST(d.attempts AS BIGINT) AS attempts, n.id AS notification_id, \
             n.user_id, n.kind, n.title, n.body, n.url, u.email \
             FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id \
             JOIN users u ON u.id = n.user_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(DELIVERY_BATCH)
        .fetch_all(pool)
        .await)?;
        let sent = futures_util::stream::iter(due)
            .map(|row| self.deliver_one(row))
            .buffer_unordered(DELIVERY_CONCURRENCY)
            .collect::<Vec<Result<bool>>>()
            .await;
        let mut count = 0;
        for result in sent {
            match result {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not record a notice's delivery"),
            }
        }
        Ok(count)
    }

    /// Claims, sends and records one delivery; answers whether it was sent.
    async fn deliver_one(&self, row: DueRow) -> Result<bool> {
        let now = crate::time::now();
        let lease = crate::time::later(now, LEASE);
        let claimed = with_db!(&self.db, pool => sqlx::query(
            "UPDATE notification_deliveries SET attempts = attempts + 1, next_attempt_at = $2 \
             WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $3",
        )
        .bind(row.id)
        .bind(lease)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if claimed == 0 {
            return Ok(false);
        }
        let attempts = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
        let outcome = match row.channel.as_str() {
            "email" => self.send_email(&row).await,
            _ => self.send_push(&row).await?,
        };
        let now = crate::time::now();
        let (status, next, error) = match outcome {
            Sent::Done => ("sent", now, None),
            Sent::Retry(error, after) if attempts < self.settings.max_attempts => {
                let wait = after
                    .unwrap_or_default()
                    .max(self.settings.backoff(attempts));
                let next = crate::time::later(now, wait);
                tracing::info!(delivery = %row.id, channel = %row.channel, attempts, %error, "notice not delivered; will retry");
                ("pending", next, Some(error))
            }
            Sent::Retry(error, _) | Sent::Failed(error) => {
                tracing::warn!(delivery = %row.id, channel = %row.channel, attempts, %error, "notice not delivered; given up");
                ("failed", now, Some(error))
            }
            Sent::Gone(error) => {
                if let Ok(subscription) = row.target.parse::<Uuid>() {
                    with_db!(&self.db, pool => sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                        .bind(subscription)
                        .execute(pool)
                        .await
                        .map(|_| ()))?;
                }
                ("dropped", now, Some(error))
            }
        };
        let sent_at = (status == "sent").then_some(now);
        with_db!(&self.db, pool => sqlx::query(
            "UPDATE notification_deliveries SET status = $2, next_attempt_at = $3, last_error = $4, sent_at = $5 \
             WHERE id = $1",
        )
        .bind(row.id)
        .bind(status)
        .bind(next)
        .bind(error.as_deref().map(clipped))
        .bind(sent_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(status == "sent")
    }

    async fn send_email(&self, row: &DueRow) -> Sent {
        let Some(email) = &self.email else {
            return Sent::Failed("email is not configured".to_owned());
        };
        let Some(kind) = Kind::parse(&row.kind) else {
            return Sent::Failed(format!("unknown kind {}", row.kind));
        };
        let link = if row.url.starts_with('/') {
            format!("{}{}", self.public_url, row.url)
        } else {
            row.url.clone()
        };
        let unsubscribe = self.unsubscribe_url(UserId::from(row.user_id), kind);
        let text = format!(
            "{}\n\n{link}\n\n--\nStop these emails: {unsubscribe}\n",
            row.body
        );
        match email
            .send_identified(&row.email, &row.title, &text, row.notification_id)
            .await
        {
            Ok(()) => Sent::Done,
            Err(e @ DeliveryError::Retryable { .. }) => Sent::Retry(e.to_string(), None),
            Err(e) => Sent::Failed(e.to_string()),
        }
    }

    async fn send_push(&self, row: &DueRow) -> Result<Sent> {
        let Some(push) = &self.push else {
            return Ok(Sent::Failed("Web Push is not configured".to_owned()));
        };
        let Ok(subscription_id) = row.target.parse::<Uuid>() else {
            return Ok(Sent::Failed("no subscription".to_owned()));
        };
        let subscription: Option<(String, String, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE id = $1",
        )
        .bind(subscription_id)
        .fetch_optional(pool)
        .await)?;
        let Some((endpoint, p256dh, auth)) = subscription else {
            return Ok(Sent::Gone("the subscription was deleted".to_owned()));
        };
        let payload = serde_json::json!({
            "id": row.notification_id,
            "kind": row.kind,
            "title": row.title,
            "body": row.body,
            "url": row.url,
        });
        let subscription = PushSubscription {
            endpoint,
            p256dh,
            auth,
        };
        Ok(
            match push
                .send(&subscription, payload.to_string().as_bytes(), PUSH_TTL_SECS)
                .await
            {
                Ok(()) => Sent::Done,
                Err(e @ PushError::Gone { .. }) => Sent::Gone(e.to_string()),
                Err(PushError::Retryable {
                    reason,
                    retry_after,
                }) => Sent::Retry(reason, retry_after),
                Err(e @ PushError::Rejected { .. }) => Sent::Failed(e.to_string()),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_the_first_up_to_the_longest() {
        let settings = NotifySettings {
            retry_first: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..NotifySettings::default()
        };
        let waits: Vec<u64> = (1..=8).map(|n| settings.backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(settings.backoff(u32::MAX), Duration::from_secs(60));
        assert_eq!(settings.backoff(0), Duration::from_secs(2));
    }
}

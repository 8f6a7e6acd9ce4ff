//! Shows: a seller's live session — a video room, a chat, a viewer count and
//! a queue of lots auctioned one after another.
//!
//! A lot is an auction created with the show's id, a giveaway or a flash
//! sale ([`lots`]): each joins the end of the queue, and `next` starts the
//! first lot still scheduled, whatever its kind, once none is running. The
//! show's room (`show:<id>`) carries every event of its auctions (the engine
//! publishes them there), of its other lots, its chat and its presence (the
//! chat room actor).

mod chat_store;
pub mod lots;
mod model;
pub mod store;

use crate::Code;
use blytz_actors::chat::ChatHub;
use blytz_actors::chat::messages::{Moderate, Moderation, SendChat};
use blytz_actors::chat::rules::ChatRejection;
use blytz_actors::chat::store::ChatMessage;
use blytz_actors::domain::{AuctionId, ShowId, UserId};
use blytz_actors::rooms::RoomKey;
use blytz_actors::rules::{Command, NewAuction};
use blytz_actors::view::{AuctionView, Outcome};

pub use chat_store::SqlChatStore;
use lots::{LotKind, Lots, QueueEntry, StartedLot};
pub use model::{ChatEntry, MAX_SLOW_MODE_SECS, ModerationRequest, NewShow, Show, ShowStatus};
use store::ShowRow;

use crate::accounts::Caller;
use crate::auctions::{AuctionFilter, Auctions};
use crate::db::Db;
use crate::error::{Error, Result, details_map};
use crate::pagination::{Page, Paged, fetch_size};

/// Lots a show may hold.
pub const MAX_LOTS: u32 = 100;

/// Shows, their queues, chat and moderation.
#[derive(Debug, Clone)]
pub struct Shows {
    db: Db,
    auctions: Auctions,
    chat: ChatHub,
    /// Where the chat history is read from.
    chat_store: SqlChatStore,
    /// Giveaways and flash sales (none: the queue runs auctions only).
    lots: Option<Lots>,
}

impl From<ChatRejection> for Error {
    fn from(rejection: ChatRejection) -> Self {
        Error::Refused {
            code: rejection.code(),
            message: rejection.to_string().into(),
            details: details_map(rejection.details()),
        }
    }
}

fn show_not_found() -> Error {
    Error::NotFound { what: "show" }
}

fn transition_refused(action: &str, status: ShowStatus) -> Error {
    Error::refused(
        Code::InvalidTransition,
        format!("a {} show cannot {action}", status.as_str()),
    )
}

impl Shows {
    /// The service over `db`, the auctions and the chat rooms.
    pub fn new(db: Db, auctions: Auctions, chat: ChatHub, chat_store: SqlChatStore) -> Self {
        Self {
            db,
            auctions,
            chat,
            chat_store,
            lots: None,
        }
    }

    /// The same service, running giveaways and flash sales with `lots`.
    #[must_use]
    pub fn with_lots(mut self, lots: Lots) -> Self {
        self.lots = Some(lots);
        self
    }

    fn lots(&self) -> Result<&Lots> {
        self.lots.as_ref().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "a show's queue holds a giveaway or flash sale, but no lot service runs"
            ))
        })
    }

    /// The chat rooms (sessions join and leave them for presence).
    pub fn chat(&self) -> &ChatHub {
        &self.chat
    }

    async fn row(&self, id: ShowId) -> Result<ShowRow> {
        store::by_id(&self.db, id).await?.ok_or_else(show_not_found)
    }

    async fn show_of(&self, row: &ShowRow) -> Result<Show> {
        Ok(row.to_show(
            store::lots(&self.db, row.id).await?,
            store::queue(&self.db, row.id).await?,
        )?)
    }

    /// The show's queue, every kind in order, auctions with their status
    /// as the engine holds it.
    async fn queue(&self, id: ShowId) -> Result<Vec<QueueEntry>> {
        let auctions = self.lot_views(id).await?;
        let mut queue = store::queue(&self.db, id).await?;
        for entry in &mut queue {
            if entry.kind == LotKind::Auction
                && let Some(view) = auctions.iter().find(|v| uuid::Uuid::from(v.id) == entry.id)
            {
                entry.status = view.status.as_str().to_owned();
            }
        }
        Ok(queue)
    }

    fn ensure_owner(row: &ShowRow, by: Caller) -> Result<()> {
        Error::unless_may_manage(by, row.seller_id)
    }

    /// Create an auction as a lot of its show (`new.show_id`): the caller
    /// manages the show, the show has not ended, and the product is the
    /// show's seller's. The lot joins the end of the queue as it is created.
    pub async fn create_lot(&self, by: Caller, new: NewAuction) -> Result<AuctionView> {
        let show = new.show_id.ok_or_else(show_not_found)?;
        let row = self.row(show).await?;
        if row.status()? == ShowStatus::Ended {
            return Err(Error::refused(Code::ShowEnded, "the show has ended"));
        }
        self.auctions.create(by, new, Some(row.seller_id)).await
    }

    /// Schedule a show.
    pub async fn create(&self, seller: UserId, new: NewShow) -> Result<Show> {
        let title = new.title.trim();
        if title
            .chars()
            .any(|c| c.is_control() || blytz_actors::chat::rules::is_invisible_format(c))
        {
            return Err(Error::validation(
                "title",
                "no_invisible_chars",
                "must not contain control characters, direction overrides or zero-width characters",
            ));
        }
        if title.is_empty() || title.chars().count() > 200 {
            return Err(Error::validation(
                "title",
                "length",
                "must be 1 to 200 characters",
            ));
        }
        if title.chars().any(char::is_control) {
            return Err(Error::validation(
                "title",
                "no_control_chars",
                "must not contain control characters",
            ));
        }
        if new.description.chars().count() > 5_000 {
            return Err(Error::validation(
                "description",
                "max_length",
                "must be at most 5000 characters",
            ));
        }
        if new
            .description
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Error::validation(
                "description",
                "no_control_chars",
                "must not contain control characters",
            ));
        }
        let cover = match new.cover_image_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url)
                if (url.starts_with("https://") || url.starts_with("http://"))
                    && url.len() <= 2048
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Some(url.to_owned())
            }
            Some(_) => {
                return Err(Error::validation(
                    "cover_image_url",
                    "url",
                    "must be an http or https URL",
                ));
            }
        };
        let now = crate::time::now();
        let id = ShowId::new();
        let row = ShowRow {
            id,
            seller_id: seller,
            title: title.to_owned(),
            description: new.description.trim().to_owned(),
            cover_image_url: cover,
            status: ShowStatus::Scheduled.as_str().to_owned(),
            scheduled_at: new.scheduled_at,
            started_at: None,
            ended_at: None,
            livekit_room: format!("show-{id}"),
            stream_status: "idle".to_owned(),
            stream_participants: 0,
            slow_mode_secs: 0,
            require_payment_method: new.require_payment_method,
            created_at: now,
            updated_at: now,
        };
        store::insert(&self.db, &row).await?;
        self.show_of(&row).await
    }

    /// One show with its queue.
    pub async fn get(&self, id: ShowId) -> Result<Show> {
        let row = self.row(id).await?;
        self.show_of(&row).await
    }

    /// The LiveKit room name of a show.
    pub async fn video_room(&self, id: ShowId) -> Result<(ShowRow, String)> {
        let row = self.row(id).await?;
        let room = row.livekit_room.clone();
        Ok((row, room))
    }

    /// Shows by status (default: live and upcoming), newest first; with
    /// `followed_by`, only those of the sellers that user follows.
    pub async fn list(
        &self,
        status: Option<ShowStatus>,
        seller: Option<UserId>,
        followed_by: Option<UserId>,
        page: &Page,
    ) -> Result<Paged<Show>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let statuses: Vec<&str> = match status {
            Some(status) => vec![status.as_str()],
            None => vec!["scheduled", "live"],
        };
        let rows = store::list(
            &self.db,
            &statuses,
            seller,
            followed_by,
            before,
            fetch_size(limit),
        )
        .await?;
        let rows = Paged::from_rows(rows, limit, |last| last.id.to_string());
        let mut shows = Vec::with_capacity(rows.items.len());
        for row in &rows.items {
            shows.push(self.show_of(row).await?);
        }
        Ok(Paged {
            items: shows,
            next_cursor: rows.next_cursor,
        })
    }

    /// Go on air.
    pub async fn go_live(&self, id: ShowId, by: Caller) -> Result<Show> {
        let row = self.row(id).await?;
        Self::ensure_owner(&row, by)?;
        if !store::transition(
            &self.db,
            id,
            &["scheduled"],
            ShowStatus::Live,
            crate::time::now(),
        )
        .await?
        {
            return Err(transition_refused("go live", row.status()?));
        }
        self.get(id).await
    }

    /// End the show (lots already running finish on their own timers).
    pub async fn end(&self, id: ShowId, by: Caller) -> Result<Show> {
        let row = self.row(id).await?;
        Self::ensure_owner(&row, by)?;
        if !store::transition(
            &self.db,
            id,
            &["scheduled", "live"],
            ShowStatus::Ended,
            crate::time::now(),
        )
        .await?
        {
            return Err(transition_refused("end", row.status()?));
        }
        self.get(id).await
    }

    /// The auctions of a show's room snapshot, newest first (404 for an
    /// unknown show: a room exists only for a show that does).
    pub async fn room_snapshot(&self, id: ShowId) -> Result<Vec<AuctionView>> {
        self.row(id).await?;
        let filter = AuctionFilter {
            show_id: Some(id),
            ..AuctionFilter::default()
        };
        let page = Page {
            limit: Some(MAX_LOTS),
            cursor: None,
        };
        Ok(self.auctions.list(&filter, &page).await?.items)
    }

    /// The show's lots with their live state, in queue order.
    pub async fn lot_views(&self, id: ShowId) -> Result<Vec<AuctionView>> {
        let order = store::lots(&self.db, id).await?;
        let filter = AuctionFilter {
            show_id: Some(id),
            ..AuctionFilter::default()
        };
        let page = Page {
            limit: Some(MAX_LOTS),
            cursor: None,
        };
        let views = self.auctions.list(&filter, &page).await?.items;
        Ok(order
            .iter()
            .filter_map(|lot| views.iter().find(|v| v.id == *lot).cloned())
            .collect())
    }

    /// Start the next lot: the first one still scheduled, whatever its
    /// kind, once no lot is running.
    pub async fn next(&self, id: ShowId, by: Caller) -> Result<StartedLot> {
        let row = self.row(id).await?;
        Self::ensure_owner(&row, by)?;
        if row.status()? != ShowStatus::Live {
            return Err(Error::refused(Code::ShowNotLive, "the show is not live"));
        }
        let queue = self.queue(id).await?;
        if queue.iter().any(QueueEntry::is_running) {
            return Err(Error::refused(
                Code::LotInProgress,
                "a lot is still running: end it (or let it end) first",
            ));
        }
        let next = queue
            .iter()
            .find(|lot| lot.is_scheduled())
            .ok_or_else(|| Error::refused(Code::QueueEmpty, "no lot is left in the queue"))?;
        match next.kind {
            LotKind::Auction => {
                let view = self
                    .auctions
                    .execute(AuctionId::from(next.id), by, Command::Start)
                    .await
                    .map(Outcome::into_auction)?;
                if let Some(lots) = &self.lots {
                    lots.publish(
                        id,
                        &serde_json::json!({"type": "lot.started", "show_id": id, "kind": "auction",
                            "lot_id": view.id, "auction_id": view.id,
                            "ends_at": view.ends_at.map(lots::wire_time),
                            "server_time": lots::wire_time(view.server_time)}),
                    );
                }
                Ok(StartedLot::Auction(view))
            }
            kind => self.lots()?.start(kind, next.id, &row).await,
        }
    }

    /// Reorder the lots still scheduled. The body lists each of them
    /// exactly once, of every kind; or (as before giveaways and flash sales)
    /// exactly the scheduled auctions, which then take the auctions' places
    /// in the new order while the other lots keep theirs.
    pub async fn reorder(&self, id: ShowId, by: Caller, order: Vec<AuctionId>) -> Result<Show> {
        let row = self.row(id).await?;
        Self::ensure_owner(&row, by)?;
        let queue = self.queue(id).await?;
        let order: Vec<uuid::Uuid> = order.into_iter().map(uuid::Uuid::from).collect();
        let mut wanted = order.clone();
        wanted.sort();
        wanted.dedup();
        let ids_of = |auctions_only: bool| {
            let mut ids: Vec<uuid::Uuid> = queue
                .iter()
                .filter(|lot| {
                    lot.is_scheduled() && (!auctions_only || lot.kind == LotKind::Auction)
                })
                .map(|lot| lot.id)
                .collect();
            ids.sort();
            ids
        };
        let auctions_only = if wanted.len() == order.len() && wanted == ids_of(false) {
            false
        } else if wanted.len() == order.len() && wanted == ids_of(true) {
            true
        } else {
            return Err(Error::validation(
                "auction_ids",
                "permutation",
                "must list each lot still scheduled exactly once",
            ));
        };
        let mut placed = order.into_iter();
        let full: Vec<AuctionId> = queue
            .iter()
            .map(|lot| {
                let moves = lot.is_scheduled() && (!auctions_only || lot.kind == LotKind::Auction);
                if moves {
                    placed.next().unwrap_or(lot.id)
                } else {
                    lot.id
                }
            })
            .map(AuctionId::from)
            .collect();
        store::reorder(&self.db, id, &full).await?;
        self.get(id).await
    }

    /// Take a lot out before it starts (an auction is cancelled, and so is
    /// a giveaway or a flash sale).
    pub async fn remove_lot(&self, id: ShowId, by: Caller, lot: AuctionId) -> Result<Show> {
        let row = self.row(id).await?;
        Self::ensure_owner(&row, by)?;
        let entry = self
            .queue(id)
            .await?
            .into_iter()
            .find(|entry| entry.id == uuid::Uuid::from(lot))
            .ok_or(Error::NotFound { what: "lot" })?;
        if !entry.is_scheduled() {
            return Err(Error::refused(
                Code::LotStarted,
                "only a lot that has not started can be removed",
            ));
        }
        match entry.kind {
            LotKind::Auction => {
                self.auctions.execute(lot, by, Command::Cancel).await?;
            }
            kind => self.lots()?.cancel(kind, entry.id).await?,
        }
        store::remove_lot(&self.db, id, lot).await?;
        self.get(id).await
    }

    /// Add or remove a chat moderator of the show.
    pub async fn set_moderator(
        &self,
        id: ShowId,
        by: Caller,
        user: UserId,
        on: bool,
    ) -> Result<()> {
        let row = self.row(id).await?;
        Self::ensure_owner(&row, by)?;
        if on && crate::accounts::role_of(&self.db, user).await?.is_none() {
            return Err(Error::code_only(Code::UserNotFound));
        }
        store::set_moderator(&self.db, id, user, on)
            .await
            .map_err(|e| match &e {
                // The show exists (just read): the user went away meanwhile.
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    Error::code_only(Code::UserNotFound)
                }
                _ => Error::from(e),
            })?;
        Ok(())
    }

    /// The seller of `room`'s show or auction (404 when it does not exist).
    async fn room_seller(&self, room: RoomKey) -> Result<UserId> {
        match room {
            RoomKey::Show(show) => Ok(self.row(show).await?.seller_id),
            RoomKey::Auction(auction) => Ok(self.auctions.view(auction).await?.seller_id),
            // A user's own room has no chat.
            RoomKey::User(_) => Err(Error::NotFound { what: "room" }),
        }
    }

    /// Whether `user` moderates `room`: the seller, a show moderator, or an admin.
    /// The room's auction or show must exist (404 else), even for an admin:
    /// no chat room is made for what does not exist.
    pub async fn moderates(&self, room: RoomKey, user: Caller) -> Result<bool> {
        let seller = self.room_seller(room).await?;
        Ok(user.may_manage(seller)
            || match room {
                RoomKey::Show(show) => store::is_moderator(&self.db, show, user.id).await?,
                RoomKey::Auction(_) | RoomKey::User(_) => false,
            })
    }

    /// Moderate a room's chat (the seller, moderators, admins). The seller
    /// and admins cannot be muted or banned; a user that does not exist is
    /// `user_not_found`.
    pub async fn moderate(&self, room: RoomKey, by: Caller, action: Moderation) -> Result<()> {
        if !self.moderates(room, by).await? {
            return Err(Error::forbidden(
                "only the seller, the show's moderators or an admin may moderate",
            ));
        }
        if let Some(target) = action.target() {
            let role = crate::accounts::role_of(&self.db, target)
                .await?
                .ok_or_else(|| Error::code_only(Code::UserNotFound))?;
            if role == crate::accounts::Role::Admin || target == self.room_seller(room).await? {
                return Err(Error::forbidden(
                    "the room's seller and admins cannot be moderated",
                ));
            }
        }
        self.chat
            .room(room)
            .send(Moderate { by: by.id, action })
            .await
            .map_err(|_| Error::from(ChatRejection::Unavailable))??;
        Ok(())
    }

    /// Post to a room's chat. `exempt` (seller, moderators, admins) skips slow mode.
    pub async fn post(
        &self,
        room: RoomKey,
        user: UserId,
        display_name: String,
        text: String,
        exempt: bool,
    ) -> Result<ChatMessage> {
        let message = SendChat {
            user_id: user,
            display_name,
            text,
            exempt,
        };
        Ok(self
            .chat
            .room(room)
            .send(message)
            .await
            .map_err(|_| Error::from(ChatRejection::Unavailable))??)
    }

    /// A page of a show's chat, newest first.
    pub async fn chat_history(&self, id: ShowId, page: &Page) -> Result<Paged<ChatEntry>> {
        self.row(id).await?;
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let rows = self
            .chat_store
            .page(RoomKey::Show(id), before, fetch_size(limit))
            .await?;
        Ok(Paged::from_rows(rows, limit, |last| last.id.to_string()))
    }
}

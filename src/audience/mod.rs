//! The audience: who follows which seller and who bookmarked which show.
//!
//! A signed-in user follows sellers (users who may sell) and bookmarks
//! shows; both are idempotent, and both lists run newest first. A seller's
//! follower count is shown on their profile and on their shows, read for a
//! whole page in one query; [`Audience::followers_of`] pages through a
//! seller's followers for whoever tells them the seller is live.

mod model;
pub mod store;

use std::collections::{HashMap, HashSet};

use blytz_actors::domain::{ShowId, UserId};

pub use model::{Added, BookmarkedShow, FollowedSeller};
use store::After;

use crate::Code;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::pagination::{Page, Paged, fetch_size};

/// Follows of sellers and bookmarks of shows.
#[derive(Debug, Clone)]
pub struct Audience {
    db: Db,
}

fn seller_not_found() -> Error {
    Error::NotFound { what: "seller" }
}

fn show_not_found() -> Error {
    Error::NotFound { what: "show" }
}

/// A row that went away (or never was) between the check and the write.
fn gone(e: sqlx::Error, what: fn() -> Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => what(),
        _ => Error::from(e),
    }
}

fn after(page: &Page) -> Result<Option<After>> {
    page.cursor_as::<After>()
}

impl Audience {
    /// The service over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Whether `user` may be followed: a user who may sell.
    async fn ensure_seller(&self, user: UserId) -> Result<()> {
        match crate::accounts::role_of(&self.db, user).await? {
            Some(role) if role.can_sell() => Ok(()),
            _ => Err(seller_not_found()),
        }
    }

    /// `follower` follows `seller`: 409 `cannot_follow_self` for oneself,
    /// 404 `not_found` for a user who is not a seller (or none). Following
    /// again changes nothing ([`Added::Already`]).
    #[tracing::instrument(skip(self))]
    pub async fn follow(
        &self,
        follower: UserId,
        seller: UserId,
    ) -> Result<(FollowedSeller, Added)> {
        if follower == seller {
            return Err(Error::code_only(Code::CannotFollowSelf));
        }
        self.ensure_seller(seller).await?;
        let added = store::follow(&self.db, follower, seller, crate::time::now())
            .await
            .map_err(|e| gone(e, seller_not_found))?;
        let row = store::followed(&self.db, follower, seller)
            .await?
            .ok_or_else(seller_not_found)?;
        let added = if added { Added::New } else { Added::Already };
        Ok((row.into(), added))
    }

    /// `follower` no longer follows `seller` (nothing to undo is fine);
    /// 404 `not_found` when `seller` is not a seller.
    #[tracing::instrument(skip(self))]
    pub async fn unfollow(&self, follower: UserId, seller: UserId) -> Result<()> {
        if !store::unfollow(&self.db, follower, seller).await? {
            self.ensure_seller(seller).await?;
        }
        Ok(())
    }

    /// The sellers `follower` follows, newest follow first.
    pub async fn following(&self, follower: UserId, page: &Page) -> Result<Paged<FollowedSeller>> {
        let limit = page.limit()?;
        let rows = store::following(&self.db, follower, after(page)?, fetch_size(limit)).await?;
        Ok(Paged::from_rows(rows, limit, |last| {
            After::key(last.followed_at, last.id.into())
        })
        .map(FollowedSeller::from))
    }

    /// How many follow `seller`.
    pub async fn follower_count(&self, seller: UserId) -> Result<u64> {
        Ok(self
            .follower_counts(&[seller])
            .await?
            .get(&seller)
            .copied()
            .unwrap_or(0))
    }

    /// How many follow each of `sellers`, in one query (a seller nobody
    /// follows is left out: read it as 0).
    pub async fn follower_counts(&self, sellers: &[UserId]) -> Result<HashMap<UserId, u64>> {
        let mut distinct = sellers.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        Ok(store::follower_counts(&self.db, &distinct)
            .await?
            .into_iter()
            .collect())
    }

    /// A page of the ids of `seller`'s followers (in id order, not by
    /// time: the order stays put while followers come and go).
    pub async fn followers_of(&self, seller: UserId, page: &Page) -> Result<Paged<UserId>> {
        let limit = page.limit()?;
        let rows =
            store::followers_of(&self.db, seller, page.uuid_cursor()?, fetch_size(limit)).await?;
        Ok(Paged::from_rows(rows, limit, |last| last.to_string()))
    }

    /// A page of the ids of the users who bookmarked `show` (in id order).
    pub async fn bookmarkers_of(&self, show: ShowId, page: &Page) -> Result<Paged<UserId>> {
        let limit = page.limit()?;
        let rows =
            store::bookmarkers_of(&self.db, show, page.uuid_cursor()?, fetch_size(limit)).await?;
        Ok(Paged::from_rows(rows, limit, |last| last.to_string()))
    }

    /// `user` bookmarks `show` (404 `not_found` for an unknown show).
    /// Bookmarking again changes nothing ([`Added::Already`]).
    #[tracing::instrument(skip(self))]
    pub async fn bookmark(&self, user: UserId, show: ShowId) -> Result<(BookmarkedShow, Added)> {
        crate::shows::store::by_id(&self.db, show)
            .await?
            .ok_or_else(show_not_found)?;
        let added = store::bookmark(&self.db, user, show, crate::time::now())
            .await
            .map_err(|e| gone(e, show_not_found))?;
        let row = store::bookmarked(&self.db, user, show)
            .await?
            .ok_or_else(show_not_found)?;
        let added = if added { Added::New } else { Added::Already };
        Ok((row.to_show()?, added))
    }

    /// `user` drops the bookmark of `show` (nothing to undo is fine); 404
    /// `not_found` for an unknown show.
    #[tracing::instrument(skip(self))]
    pub async fn unbookmark(&self, user: UserId, show: ShowId) -> Result<()> {
        if !store::unbookmark(&self.db, user, show).await?
            && crate::shows::store::by_id(&self.db, show).await?.is_none()
        {
            return Err(show_not_found());
        }
        Ok(())
    }

    /// The shows `user` bookmarked, newest bookmark first.
    pub async fn bookmarks(&self, user: UserId, page: &Page) -> Result<Paged<BookmarkedShow>> {
        let limit = page.limit()?;
        let rows = store::bookmarks(&self.db, user, after(page)?, fetch_size(limit)).await?;
        let rows = Paged::from_rows(rows, limit, |last| {
            After::key(last.bookmarked_at, last.id.into())
        });
        let items = rows
            .items
            .iter()
            .map(store::BookmarkRow::to_show)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Paged {
            items,
            next_cursor: rows.next_cursor,
        })
    }

    /// Which of `shows` `user` bookmarked, in one query.
    pub async fn bookmarked_among(
        &self,
        user: UserId,
        shows: &[ShowId],
    ) -> Result<HashSet<ShowId>> {
        let mut distinct = shows.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        Ok(store::bookmarked_among(&self.db, user, &distinct)
            .await?
            .into_iter()
            .collect())
    }
}

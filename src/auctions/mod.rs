//! Auctions as the API offers them: the engine for everything live, the SQL
//! read models for lists and bid history.

mod history;
pub mod journal;

use blytz_actors::auction::messages::PlaceBid;
use blytz_actors::domain::{AuctionId, UserId};
use blytz_actors::rules::{Actor, NewAuction};
use blytz_actors::view::{AuctionView, BidOutcome};
use blytz_actors::{AuctionError, Engine};
use serde_json::{Map, Value};

pub use history::{AuctionFilter, BidRecord};
pub use journal::{AUCTION_ENDED_TOPIC, SqlJournal};

use crate::catalog::{self, Catalog};
use crate::db::Db;
use crate::error::{Error, ErrorKind, Result};
use crate::pagination::Page;

/// The longest idempotency key of a bid.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// Who is acting, as the auction rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// Whether they are an admin.
    pub is_admin: bool,
}

impl From<Caller> for Actor {
    fn from(caller: Caller) -> Self {
        Actor {
            user_id: caller.user_id,
            is_admin: caller.is_admin,
        }
    }
}

/// Auctions: create, command, bid, read.
#[derive(Debug, Clone)]
pub struct Auctions {
    engine: Engine,
    db: Db,
    catalog: Catalog,
}

impl Auctions {
    /// The service over a running engine, the database its journal writes,
    /// and the catalog whose products auctions sell.
    pub fn new(engine: Engine, db: Db, catalog: Catalog) -> Self {
        Self {
            engine,
            db,
            catalog,
        }
    }

    /// The engine (rooms, subscriptions, snapshots).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Create an auction of a product: by its seller (or an admin, for the
    /// seller), in the product's currency, while no other open auction holds it.
    #[tracing::instrument(skip_all, fields(by = %by.user))]
    pub async fn create(&self, by: catalog::Actor, new: NewAuction) -> Result<AuctionView> {
        let product = self.catalog.product_for_auction(by, new.product_id).await?;
        if product.currency != new.currency.as_str() {
            return Err(Error::validation(
                "currency",
                "matches_product",
                format!("must be the product's currency, {}", product.currency),
            ));
        }
        let show = new.show_id;
        if let Some(show) = show {
            let row = crate::shows::store::by_id(&self.db, show)
                .await?
                .ok_or(Error::NotFound { what: "show" })?;
            if row.seller_id != product.seller_id {
                return Err(Error::forbidden("the show belongs to another seller"));
            }
            if row.status == "ended" {
                return Err(Error::conflict("show_ended", "the show has ended"));
            }
        }
        let view = self.engine.create_auction(product.seller_id, new).await?;
        if let Some(show) = show {
            // The lot joins the end of the show's queue.
            crate::shows::store::append_lot(&self.db, show, view.id).await?;
        }
        Ok(view)
    }

    /// The live view (from the actor, rebuilt from the journal if needed).
    pub async fn view(&self, id: AuctionId) -> Result<AuctionView> {
        Ok(self.engine.view(id).await?)
    }

    /// Place a bid; answers once it is durable.
    #[tracing::instrument(skip_all, fields(auction = %id))]
    pub async fn bid(&self, id: AuctionId, bid: PlaceBid) -> Result<BidOutcome> {
        if let Some(key) = &bid.request_id
            && (key.chars().count() > MAX_REQUEST_ID_CHARS || key.chars().any(char::is_control))
        {
            // The key is journaled with the bid: keep it storable everywhere.
            return Err(Error::validation(
                "request_id",
                "request_id",
                format!(
                    "must be at most {MAX_REQUEST_ID_CHARS} characters, none a control character"
                ),
            ));
        }
        let started = std::time::Instant::now();
        let outcome = self.engine.place_bid(id, bid).await;
        let code = match &outcome {
            Ok(_) => "accepted",
            Err(e) => e.code(),
        };
        metrics::counter!("bids_total", "outcome" => code).increment(1);
        metrics::histogram!("bid_answer_seconds", "outcome" => code)
            .record(started.elapsed().as_secs_f64());
        Ok(outcome?)
    }

    /// Buy now at the buy-now price.
    pub async fn buy_now(&self, id: AuctionId, buyer: UserId) -> Result<AuctionView> {
        Ok(self.engine.buy_now(id, buyer).await?)
    }

    /// Start a scheduled auction.
    pub async fn start(&self, id: AuctionId, by: Caller) -> Result<AuctionView> {
        Ok(self.engine.start_auction(id, by.into()).await?)
    }

    /// Pause a live auction.
    pub async fn pause(&self, id: AuctionId, by: Caller) -> Result<AuctionView> {
        Ok(self.engine.pause(id, by.into()).await?)
    }

    /// Resume a paused auction.
    pub async fn resume(&self, id: AuctionId, by: Caller) -> Result<AuctionView> {
        Ok(self.engine.resume(id, by.into()).await?)
    }

    /// Move a live auction's deadline later by `by_ms`.
    pub async fn extend(&self, id: AuctionId, by: Caller, by_ms: i64) -> Result<AuctionView> {
        Ok(self.engine.extend(id, by.into(), by_ms).await?)
    }

    /// Hammer: end now.
    pub async fn end(&self, id: AuctionId, by: Caller) -> Result<AuctionView> {
        Ok(self.engine.end(id, by.into()).await?)
    }

    /// Call it off.
    pub async fn cancel(&self, id: AuctionId, by: Caller) -> Result<AuctionView> {
        Ok(self.engine.cancel(id, by.into()).await?)
    }

    /// A page of auctions from the read model, newest first.
    pub async fn list(
        &self,
        filter: &AuctionFilter,
        page: &Page,
    ) -> Result<(Vec<AuctionView>, Option<String>)> {
        history::list(&self.db, filter, page, self.engine.now()).await
    }

    /// A page of an auction's bids, newest first.
    pub async fn bids(
        &self,
        id: AuctionId,
        page: &Page,
    ) -> Result<(Vec<BidRecord>, Option<String>)> {
        // Through the engine, so an unknown auction is a 404, not an empty list.
        self.engine.view(id).await?;
        history::bids(&self.db, id, page).await
    }
}

impl From<AuctionError> for Error {
    fn from(e: AuctionError) -> Self {
        match e {
            AuctionError::Rejected(rejection) => {
                let code = rejection.code();
                let kind = match code {
                    "bid_too_low" | "invalid_amount" | "invalid_config" => ErrorKind::Validation,
                    "own_auction" | "forbidden" => ErrorKind::Forbidden,
                    "not_found" => ErrorKind::NotFound,
                    _ => ErrorKind::Conflict,
                };
                let details = match rejection.details() {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                Error::Rule {
                    kind,
                    code,
                    message: rejection.to_string().into(),
                    details,
                }
            }
            AuctionError::Unavailable => Error::Unavailable {
                code: "unavailable",
                message: "the auction is being recovered; retry shortly".into(),
            },
            AuctionError::Journal(e) => {
                Error::Internal(anyhow::Error::new(e).context("auction journal"))
            }
        }
    }
}

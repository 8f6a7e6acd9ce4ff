//! Auctions as the API offers them: the engine for everything live, the SQL
//! read models for lists and bid history.

mod history;
mod inline;
pub mod journal;
mod keys;
mod read_models;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use blytz_actors::domain::{AuctionId, ProductId, UserId};
use blytz_actors::ports::JournalError;
use blytz_actors::rules::{Command, NewAuction};
use blytz_actors::view::{AuctionView, Outcome, PreBidOutcome};
use blytz_actors::{AuctionError, Engine};

pub use history::{AuctionFilter, BidRecord, all_bids};
pub use journal::{AUCTION_ENDED_TOPIC, SqlJournal};
pub(crate) use keys::fit_to_journal as fit_journal_keys;
pub use read_models::{KEYS_AFTER, ReadModels, SETTLE_AFTER};

use crate::Code;
use crate::accounts::Caller;
use crate::catalog::Catalog;
use crate::db::Db;
use crate::error::{Error, Result, details_map};
use crate::pagination::{Page, Paged};

/// Auctions: create, run commands, read.
#[derive(Debug, Clone)]
pub struct Auctions {
    engine: Engine,
    db: Db,
    /// Settled before the read models are read.
    read_models: ReadModels,
    catalog: Catalog,
    /// Products an auction is being created for: creations of one product
    /// take turns, so two at once cannot both find it free.
    creating: Arc<Mutex<HashMap<ProductId, Arc<tokio::sync::Mutex<()>>>>>,
    answers: Arc<AnswerMetrics>,
}

/// The handles of `bids_total` and `bid_answer_seconds`, one pair per
/// outcome, registered on first use. A `counter!`/`histogram!` call with a
/// label builds its key, hashes it and looks it up in the recorder's
/// registry: twice per bid, on every answer; a held handle records
/// without that lookup.
#[derive(Debug)]
struct AnswerMetrics {
    /// Index 0 is `accepted`; a refusal's code is at `1 + code as usize`.
    outcomes: [OnceLock<(metrics::Counter, metrics::Histogram)>; 1 + Code::ALL.len()],
}

impl Default for AnswerMetrics {
    fn default() -> Self {
        Self {
            outcomes: [const { OnceLock::new() }; 1 + Code::ALL.len()],
        }
    }
}

impl AnswerMetrics {
    /// Counts one bid answered with `outcome` (`None`: accepted) after
    /// `took`.
    fn record(&self, outcome: Option<Code>, took: std::time::Duration) {
        let (slot, label) = match outcome {
            None => (0, "accepted"),
            Some(code) => (1 + code as usize, code.as_str()),
        };
        let Some(cell) = self.outcomes.get(slot) else {
            return;
        };
        let (count, latency) = cell.get_or_init(|| {
            (
                metrics::counter!("bids_total", "outcome" => label),
                metrics::histogram!("bid_answer_seconds", "outcome" => label),
            )
        });
        count.increment(1);
        latency.record(took.as_secs_f64());
    }
}

impl Auctions {
    /// The service over a running engine, the database its journal writes
    /// with the read models it keeps there, and the catalog whose products
    /// auctions sell.
    pub fn new(engine: Engine, db: Db, read_models: ReadModels, catalog: Catalog) -> Self {
        Self {
            engine,
            db,
            read_models,
            catalog,
            creating: Arc::default(),
            answers: Arc::default(),
        }
    }

    /// The engine (rooms, subscriptions, snapshots).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Create an auction of a product: by its seller (or an admin, for the
    /// seller), in the product's currency, while no other open auction holds
    /// it. With `seller`, the product must be that seller's (a show's lots
    /// are its seller's products). An auction with a `show_id` joins the end
    /// of that show's queue in the transaction that creates it; shows create
    /// their lots through `Shows::create_lot`, which checks the show first.
    #[tracing::instrument(skip_all, fields(by = %by.id))]
    pub async fn create(
        &self,
        by: Caller,
        new: NewAuction,
        seller: Option<UserId>,
    ) -> Result<AuctionView> {
        let turn = self.turn_of(new.product_id);
        let created = {
            let _mine = turn.lock().await;
            self.create_now(by, new, seller).await
        };
        drop(turn);
        self.creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, turn| Arc::strong_count(turn) > 1);
        created
    }

    /// The lock creations of `product` take turns on.
    fn turn_of(&self, product: ProductId) -> Arc<tokio::sync::Mutex<()>> {
        let mut creating = self
            .creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(creating.entry(product).or_default())
    }

    /// [`Auctions::create`], with the product's turn held: the check that no
    /// open auction holds it and the creation happen with no other creation
    /// of it between.
    async fn create_now(
        &self,
        by: Caller,
        new: NewAuction,
        seller: Option<UserId>,
    ) -> Result<AuctionView> {
        let product = self.catalog.product_for_auction(by, new.product_id).await?;
        if seller.is_some_and(|seller| seller != product.seller_id) {
            return Err(Error::forbidden("the show belongs to another seller"));
        }
        if product.currency != new.currency.as_str() {
            return Err(Error::validation(
                "currency",
                "matches_product",
                format!("must be the product's currency, {}", product.currency),
            ));
        }
        Ok(self.engine.create_auction(product.seller_id, new).await?)
    }

    /// The live view (from the actor, rebuilt from the journal if needed).
    pub async fn view(&self, id: AuctionId) -> Result<AuctionView> {
        Ok(self.engine.view(id).await?)
    }

    /// The pre-bid `caller` holds on auction `id`, for them alone (it shows
    /// their maximum).
    ///
    /// # Errors
    /// `no_pre_bid` when they hold none (never placed, withdrawn, or entered
    /// as a bid at the start); `not_found` for no such auction.
    pub async fn pre_bid(&self, id: AuctionId, caller: Caller) -> Result<PreBidOutcome> {
        self.engine
            .pre_bid(id, caller.id)
            .await?
            .ok_or_else(|| Error::code_only(Code::NoPreBid))
    }

    /// Runs `caller`'s `command` on auction `id` through the engine: the one
    /// path of every bid, pre-bid, buy-now and lifecycle change, from REST
    /// and the WebSocket alike. Answers once the command is durable.
    ///
    /// Its span is at `debug`: at `info` every bid would open one and
    /// format its auction id into it, though the only line logged inside it
    /// (the journal unreachable) is about the journal, not the auction.
    #[tracing::instrument(level = "debug", skip_all, fields(auction = %id))]
    pub async fn execute(
        &self,
        id: AuctionId,
        caller: Caller,
        command: Command,
    ) -> Result<Outcome> {
        let is_bid = matches!(command, Command::Bid(_));
        let started = std::time::Instant::now();
        let outcome = self.engine.execute(id, caller, command).await;
        if is_bid {
            let code = outcome.as_ref().err().map(AuctionError::code);
            self.answers.record(code, started.elapsed());
        }
        Ok(outcome?)
    }

    /// A page of auctions from the read model, newest first.
    pub async fn list(&self, filter: &AuctionFilter, page: &Page) -> Result<Paged<AuctionView>> {
        self.read_models
            .settle()
            .await
            .map_err(AuctionError::Journal)?;
        history::list(&self.db, filter, page, self.engine.now()).await
    }

    /// A page of an auction's bids, newest first, from the journal: every
    /// acknowledged bid is there, with nothing to settle first.
    pub async fn bids(&self, id: AuctionId, page: &Page) -> Result<Paged<BidRecord>> {
        // Through the engine, so an unknown auction is a 404, not an empty list.
        self.engine.view(id).await?;
        history::bids(&self.db, id, page).await
    }
}

impl From<AuctionError> for Error {
    fn from(e: AuctionError) -> Self {
        match e {
            AuctionError::Rejected(rejection) => Error::Rejected(rejection),
            AuctionError::Unavailable | AuctionError::Moved => Error::refused(
                Code::Unavailable,
                "the auction is being recovered; retry shortly",
            ),
            AuctionError::Remote {
                code,
                message,
                details,
            } => Error::Refused {
                code,
                message: message.into(),
                details: details_map(details),
            },
            AuctionError::Journal(JournalError::Unavailable(cause)) => {
                tracing::warn!(%cause, "auction journal unavailable");
                Error::code_only(Code::Unavailable)
            }
            AuctionError::Journal(e) => {
                Error::Internal(anyhow::Error::new(e).context("auction journal"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn each_answer_is_counted_under_its_outcome_on_its_held_handles() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let answers = AnswerMetrics::default();
        metrics::with_local_recorder(&recorder, || {
            answers.record(None, Duration::from_millis(2));
            answers.record(Some(Code::BidTooLow), Duration::from_millis(1));
            answers.record(Some(Code::BidTooLow), Duration::from_millis(3));
            answers.record(Some(Code::AuctionNotLive), Duration::from_millis(1));
        });
        // The handles were registered once, under the recorder then in
        // place; a later answer counts on them whatever recorder is current.
        answers.record(Some(Code::BidTooLow), Duration::from_millis(4));

        let mut counts = HashMap::new();
        let mut samples = HashMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let outcome = key
                .key()
                .labels()
                .find(|label| label.key() == "outcome")
                .map(|label| label.value().to_owned())
                .unwrap_or_default();
            match (key.key().name(), value) {
                ("bids_total", DebugValue::Counter(n)) => {
                    counts.insert(outcome, n);
                }
                ("bid_answer_seconds", DebugValue::Histogram(seen)) => {
                    samples.insert(outcome, seen.len());
                }
                (name, _) => panic!("unexpected metric {name}"),
            }
        }
        let expected = HashMap::from([
            ("accepted".to_owned(), 1),
            ("bid_too_low".to_owned(), 3),
            ("auction_not_live".to_owned(), 1),
        ]);
        assert_eq!(counts, expected);
        assert_eq!(
            samples,
            expected
                .iter()
                .map(|(outcome, n)| (outcome.clone(), usize::try_from(*n).unwrap()))
                .collect()
        );
    }
}

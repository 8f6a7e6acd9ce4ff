//! Message handlers: each judges with the rules and answers once durable.

use actix::prelude::*;

use super::AuctionActor;
use super::answer::Durable;
use super::messages::{Execute, GetPreBid, GetSnapshotFrame, GetView, Tick};
use crate::AuctionError;
use crate::domain::UserId;
use crate::rooms::Frame;
use crate::rules::{BidIds, Command, Event, EventKind, decide};
use crate::view::{
    AuctionView, BidOutcome, BidReceipt, Outcome, PreBidOutcome, PreBidReceipt, snapshot_frame,
};

impl AuctionActor {
    fn respond<T: 'static>(&mut self, result: Result<T, AuctionError>) -> Durable<T> {
        let (answer, fill) = Durable::pending();
        self.reply_when_durable(result, fill);
        answer
    }

    /// The receipt of the bid `bid_id` among `events`, or of the bid a
    /// retry with the same request id recorded earlier.
    fn bid_outcome(
        &self,
        bidder_id: UserId,
        request_id: Option<&str>,
        bid_id: crate::domain::BidId,
        events: &[Event],
    ) -> Result<BidOutcome, AuctionError> {
        let placed = events.iter().find_map(|event| match &event.kind {
            EventKind::BidPlaced(placed) if placed.bid_id == bid_id => Some((
                BidReceipt {
                    id: placed.bid_id,
                    amount: placed.amount,
                    bidder_id: placed.bidder_id,
                    created_at: event.at,
                },
                placed.leading,
            )),
            EventKind::MaxRaised(raise) if raise.bid_id == bid_id => Some((
                BidReceipt {
                    id: raise.bid_id,
                    amount: raise.current_price,
                    bidder_id: raise.bidder_id,
                    created_at: event.at,
                },
                true,
            )),
            _ => None,
        });
        let retried = || {
            let request_id = request_id?;
            let recorded = self.state.recorded_bid(bidder_id, request_id)?;
            Some((BidReceipt::of(bidder_id, recorded), recorded.leading))
        };
        let (bid, leading) = placed.or_else(retried).ok_or(AuctionError::Unavailable)?;
        Ok(BidOutcome {
            bid,
            leading,
            auction: AuctionView::of(&self.state, self.now()),
        })
    }

    /// The receipt of the pre-bid placed or raised among `events`, or of the
    /// one a retry with the same request id recorded earlier.
    fn pre_bid_outcome(
        &self,
        bidder_id: UserId,
        request_id: Option<&str>,
        events: &[Event],
    ) -> Result<PreBidOutcome, AuctionError> {
        let placed = events.iter().find_map(|event| match &event.kind {
            EventKind::PreBidPlaced(set) | EventKind::PreBidRaised(set)
                if set.bidder_id == bidder_id =>
            {
                Some(PreBidReceipt {
                    id: set.bid_id,
                    max_amount: set.max_amount,
                    bidder_id,
                    created_at: event.at,
                })
            }
            _ => None,
        });
        let retried = || {
            let recorded = self.state.recorded_pre_bid(bidder_id, request_id?)?;
            Some(PreBidReceipt::recorded(bidder_id, recorded))
        };
        let pre_bid = placed.or_else(retried).ok_or(AuctionError::Unavailable)?;
        Ok(PreBidOutcome {
            pre_bid,
            auction: AuctionView::of(&self.state, self.now()),
        })
    }
}

/// What an executed command answers with, chosen before the command is
/// consumed: only a request id is needed again, to find a retried one.
enum AnswerWith {
    Bid(Option<String>),
    PreBid(Option<String>),
    Auction,
}

impl Handler<Execute> for AuctionActor {
    type Result = Durable<Outcome>;

    fn handle(&mut self, msg: Execute, ctx: &mut Self::Context) -> Self::Result {
        let Execute { caller, command } = msg;
        let ids = self.next_ids;
        let answer_with = match &command {
            Command::Bid(bid) => AnswerWith::Bid(bid.request_id.clone()),
            Command::PreBid(pre_bid) => AnswerWith::PreBid(pre_bid.request_id.clone()),
            _ => AnswerWith::Auction,
        };
        let result = self
            .execute(|state, now| decide(state, caller, command, ids, now), ctx)
            .inspect(|_| self.next_ids = BidIds::fresh())
            .and_then(|events| match answer_with {
                AnswerWith::Bid(request_id) => self
                    .bid_outcome(caller.id, request_id.as_deref(), ids.bid, &events)
                    .map(|outcome| Outcome::Bid(Box::new(outcome))),
                AnswerWith::PreBid(request_id) => self
                    .pre_bid_outcome(caller.id, request_id.as_deref(), &events)
                    .map(|outcome| Outcome::PreBid(Box::new(outcome))),
                AnswerWith::Auction => Ok(Outcome::Auction(Box::new(AuctionView::of(
                    &self.state,
                    self.now(),
                )))),
            });
        self.respond(result)
    }
}

impl Handler<GetPreBid> for AuctionActor {
    type Result = Durable<Option<PreBidOutcome>>;

    fn handle(&mut self, msg: GetPreBid, ctx: &mut Self::Context) -> Self::Result {
        if let Err(error) = self.serving(ctx) {
            return self.respond(Err(error));
        }
        let outcome = self
            .state
            .pre_bid_of(msg.bidder_id)
            .map(|pre_bid| PreBidOutcome {
                pre_bid: PreBidReceipt::of(pre_bid),
                auction: AuctionView::of(&self.state, self.now()),
            });
        self.respond(Ok(outcome))
    }
}

impl Handler<Tick> for AuctionActor {
    type Result = Durable<AuctionView>;

    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) -> Self::Result {
        let result = self
            .close_if_due(ctx)
            .map(|_| AuctionView::of(&self.state, self.now()));
        self.respond(result)
    }
}

impl Handler<GetView> for AuctionActor {
    type Result = Durable<AuctionView>;

    fn handle(&mut self, _: GetView, ctx: &mut Self::Context) -> Self::Result {
        if let Err(error) = self.serving(ctx) {
            return self.respond(Err(error));
        }
        let view = AuctionView::of(&self.state, self.now());
        self.respond(Ok(view))
    }
}

impl Handler<GetSnapshotFrame> for AuctionActor {
    type Result = Durable<Frame>;

    fn handle(&mut self, _: GetSnapshotFrame, ctx: &mut Self::Context) -> Self::Result {
        if let Err(error) = self.serving(ctx) {
            return self.respond(Err(error));
        }
        let bytes = snapshot_frame(&self.state, self.now());
        self.respond(Ok(Frame::new(Some(self.state.seq), bytes)))
    }
}

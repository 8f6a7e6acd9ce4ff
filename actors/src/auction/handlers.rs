//! Message handlers: each turns a message into a rules command and an
//! answer released once durable.

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::AuctionActor;
use super::messages::{
    BuyNow, Cancel, End, Extend, GetSnapshotFrame, GetView, Pause, PlaceBid, Resume, Start, Tick,
};
use crate::AuctionError;
use crate::domain::BidId;
use crate::rules::{BidRequest, Command, Event, EventKind};
use crate::view::{AuctionView, BidOutcome, BidReceipt, snapshot_frame};

type Answer<T> = ResponseFuture<Result<T, AuctionError>>;

impl AuctionActor {
    fn respond<T: Send + 'static>(&mut self, result: Result<T, AuctionError>) -> Answer<T> {
        let (tx, rx) = oneshot::channel();
        self.reply_when_durable(result, move |answer| {
            // The caller may have gone away; nothing to do then.
            let _ = tx.send(answer);
        });
        Box::pin(async move { rx.await.unwrap_or(Err(AuctionError::Unavailable)) })
    }

    fn run(&mut self, command: Command, ctx: &mut Context<Self>) -> Answer<AuctionView> {
        let result = self
            .execute(command, ctx)
            .map(|_| AuctionView::of(&self.state, self.now()));
        self.respond(result)
    }

    fn bid_outcome(
        &self,
        msg: &PlaceBid,
        bid_id: BidId,
        events: &[Event],
    ) -> Result<BidOutcome, AuctionError> {
        let placed = events.iter().find_map(|event| match &event.kind {
            EventKind::BidPlaced(bid) if bid.bid_id == bid_id => Some((
                BidReceipt {
                    id: bid.bid_id,
                    amount: bid.amount,
                    bidder_id: bid.bidder_id,
                    created_at: event.at,
                },
                bid.leading,
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
            let request_id = msg.request_id.as_deref()?;
            let recorded = self.state.recorded_bid(msg.bidder_id, request_id)?;
            Some((BidReceipt::of(msg.bidder_id, recorded), recorded.leading))
        };
        let (bid, leading) = placed.or_else(retried).ok_or(AuctionError::Unavailable)?;
        Ok(BidOutcome {
            bid,
            leading,
            auction: AuctionView::of(&self.state, self.now()),
        })
    }
}

impl Handler<PlaceBid> for AuctionActor {
    type Result = Answer<BidOutcome>;

    fn handle(&mut self, msg: PlaceBid, ctx: &mut Self::Context) -> Self::Result {
        let bid = BidRequest::new(
            msg.bidder_id,
            msg.amount,
            msg.max_amount,
            msg.request_id.clone(),
        );
        let bid_id = bid.bid_id;
        let result = self
            .execute(Command::PlaceBid(bid), ctx)
            .and_then(|events| self.bid_outcome(&msg, bid_id, &events));
        self.respond(result)
    }
}

impl Handler<BuyNow> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: BuyNow, ctx: &mut Self::Context) -> Self::Result {
        self.run(
            Command::BuyNow {
                buyer_id: msg.buyer_id,
            },
            ctx,
        )
    }
}

impl Handler<Start> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: Start, ctx: &mut Self::Context) -> Self::Result {
        self.run(Command::Start { by: msg.by }, ctx)
    }
}

impl Handler<Pause> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: Pause, ctx: &mut Self::Context) -> Self::Result {
        self.run(Command::Pause { by: msg.by }, ctx)
    }
}

impl Handler<Resume> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: Resume, ctx: &mut Self::Context) -> Self::Result {
        self.run(Command::Resume { by: msg.by }, ctx)
    }
}

impl Handler<Extend> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: Extend, ctx: &mut Self::Context) -> Self::Result {
        self.run(
            Command::Extend {
                by: msg.by,
                by_ms: msg.by_ms,
            },
            ctx,
        )
    }
}

impl Handler<End> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: End, ctx: &mut Self::Context) -> Self::Result {
        self.run(Command::End { by: msg.by }, ctx)
    }
}

impl Handler<Cancel> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, msg: Cancel, ctx: &mut Self::Context) -> Self::Result {
        self.run(Command::Cancel { by: msg.by }, ctx)
    }
}

impl Handler<Tick> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) -> Self::Result {
        self.run(Command::Close, ctx)
    }
}

impl Handler<GetView> for AuctionActor {
    type Result = Answer<AuctionView>;

    fn handle(&mut self, _: GetView, _: &mut Self::Context) -> Self::Result {
        let view = AuctionView::of(&self.state, self.now());
        self.respond(Ok(view))
    }
}

impl Handler<GetSnapshotFrame> for AuctionActor {
    type Result = Answer<Bytes>;

    fn handle(&mut self, _: GetSnapshotFrame, _: &mut Self::Context) -> Self::Result {
        let frame = snapshot_frame(&self.state, self.now());
        self.respond(Ok(frame))
    }
}

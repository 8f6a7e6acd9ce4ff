//! The `pre_bid` and `withdraw_pre_bid` messages: the same commands as
//! `PUT` and `DELETE /api/v1/auctions/{id}/pre-bid`, answered once durable.

use actix::prelude::*;
use blytz::Error;
use blytz_actors::domain::AuctionId;
use blytz_actors::rules::{Command, PreBid};
use blytz_actors::view::Outcome;

use super::{WsSession, not_authenticated};
use crate::command;
use crate::ws::protocol;
use crate::ws::writer::Outgoing;

impl WsSession {
    /// `{"type":"pre_bid",...}` -> `pre_bid.accepted`.
    pub(super) fn pre_bid(
        &mut self,
        id: Option<String>,
        auction_id: &str,
        pre_bid: PreBid,
        ctx: &mut Context<Self>,
    ) {
        self.pre_bid_command(id, auction_id, command::pre_bid(pre_bid), ctx);
    }

    /// `{"type":"withdraw_pre_bid",...}` -> `pre_bid.withdrawn`.
    pub(super) fn withdraw_pre_bid(
        &mut self,
        id: Option<String>,
        auction_id: &str,
        ctx: &mut Context<Self>,
    ) {
        self.pre_bid_command(id, auction_id, command::withdraw_pre_bid(), ctx);
    }

    fn pre_bid_command(
        &mut self,
        id: Option<String>,
        auction_id: &str,
        command: Command,
        ctx: &mut Context<Self>,
    ) {
        let Some(user) = self.user else {
            return self.reply_error(id.as_deref(), &not_authenticated("pre-bidding"), ctx);
        };
        let Ok(auction) = auction_id.parse::<AuctionId>() else {
            return self.reply_error(id.as_deref(), &Error::NotFound { what: "auction" }, ctx);
        };
        if !self.begin(id.as_deref(), ctx) {
            return;
        }
        let state = self.state.clone();
        ctx.spawn(
            async move { command::execute(&state, user.caller(), auction, command).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.end();
                    let reply = match result {
                        Ok(Outcome::PreBid(outcome)) => {
                            protocol::pre_bid_accepted(id.as_deref(), &outcome)
                        }
                        Ok(Outcome::Auction(view)) => {
                            protocol::pre_bid_withdrawn(id.as_deref(), &view)
                        }
                        Ok(Outcome::Bid(_)) => {
                            let error =
                                Error::Internal(anyhow::anyhow!("a pre-bid answered a bid"));
                            return act.reply_error(id.as_deref(), &error, ctx);
                        }
                        Err(e) => return act.reply_error(id.as_deref(), &e, ctx),
                    };
                    act.push(Outgoing::Text(reply), ctx);
                }),
        );
    }
}

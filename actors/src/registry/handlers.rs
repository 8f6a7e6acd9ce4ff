//! Registry handlers: resolve (load on demand), create, resume open auctions.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::messages::{CreateAuction, Resolve, ResumeOpenAuctions};
use super::{AuctionRegistry, Waiter};
use crate::AuctionError;
use crate::auction::AuctionActor;
use crate::domain::AuctionId;
use crate::ports::{Fence, JournalEntry, JournalError};
use crate::rules::{AuctionState, Rejection, create};

type Answer<T> = ResponseFuture<Result<T, AuctionError>>;

impl AuctionRegistry {
    /// Ends a load: spawns the actor and answers everyone waiting.
    fn loaded(
        &mut self,
        auction_id: AuctionId,
        result: Result<Option<AuctionState>, JournalError>,
    ) {
        let answer = match result {
            // Another path may have spawned it meanwhile.
            Ok(Some(state)) => match self.deps.index.get(auction_id) {
                Some(addr) => Ok(addr),
                None => self
                    .fence(auction_id)
                    .map(|fence| self.spawn_actor(state, fence)),
            },
            Ok(None) => Err(AuctionError::Rejected(Rejection::NotFound)),
            Err(error) => {
                tracing::error!(%auction_id, %error, "loading the auction failed");
                Err(AuctionError::Journal(error))
            }
        };
        for waiter in self.loading.remove(&auction_id).unwrap_or_default() {
            let _ = waiter.send(answer.clone());
        }
    }

    /// Starts loading `auction_id` unless it is loading already; `waiter`
    /// (if any) is answered when the load ends.
    fn load(&mut self, auction_id: AuctionId, waiter: Option<Waiter>, ctx: &mut Context<Self>) {
        if let Err(moved) = self.fence(auction_id) {
            if let Some(waiter) = waiter {
                let _ = waiter.send(Err(moved));
            }
            return;
        }
        let waiters = self.loading.entry(auction_id).or_default();
        let first = waiters.is_empty();
        if let Some(waiter) = waiter {
            waiters.push(waiter);
        }
        if first {
            let store = self.deps.store.clone();
            let load = crate::runtime::in_runtime(async move {
                store.load(auction_id).await?.rebuild(auction_id)
            });
            ctx.spawn(
                load.into_actor(self)
                    .map(move |result, act, _| act.loaded(auction_id, result)),
            );
        }
    }

    /// Brings back every open auction that has no actor (one whose journal
    /// append failed, or whose rebuild could not read the store): its timer
    /// is armed again. A store that still cannot be read is tried again at
    /// the next sweep.
    pub(super) fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let store = self.deps.store.clone();
        let open = crate::runtime::in_runtime(async move { store.open_auctions().await });
        ctx.spawn(open.into_actor(self).map(|result, act, ctx| {
            act.sweeping = false;
            let open = match result {
                Ok(open) => open,
                Err(error) => {
                    tracing::debug!(%error, "recovery sweep: open auctions not read");
                    return;
                }
            };
            for auction_id in open {
                if act.deps.index.get(auction_id).is_none()
                    && !act.loading.contains_key(&auction_id)
                    && act.fence(auction_id).is_ok()
                {
                    tracing::info!(%auction_id, "recovery sweep: bringing the auction back");
                    act.load(auction_id, None, ctx);
                }
            }
        }));
    }
}

impl Handler<Resolve> for AuctionRegistry {
    type Result = Answer<actix::Addr<AuctionActor>>;

    fn handle(&mut self, msg: Resolve, ctx: &mut Self::Context) -> Self::Result {
        let auction_id = msg.auction_id;
        if let Some(addr) = self.deps.index.get(auction_id) {
            return Box::pin(async move { Ok(addr) });
        }
        let (tx, rx) = oneshot::channel();
        self.load(auction_id, Some(tx), ctx);
        Box::pin(async move { rx.await.unwrap_or(Err(AuctionError::Unavailable)) })
    }
}

impl Handler<CreateAuction> for AuctionRegistry {
    type Result = ResponseActFuture<Self, Result<actix::Addr<AuctionActor>, AuctionError>>;

    fn handle(&mut self, msg: CreateAuction, _: &mut Self::Context) -> Self::Result {
        let fence = self.fence(msg.config.id);
        let created = create(msg.config, self.deps.clock.now());
        let journal = self.deps.journal.clone();
        Box::pin(
            async move {
                let fence = fence?;
                let event = created?;
                let state = AuctionState::replay([&event]).ok_or(AuctionError::Unavailable)?;
                let mut entry = JournalEntry::new(event, &state);
                entry.fence = fence;
                journal
                    .submit(vec![entry])
                    .await
                    .map_err(|error| match error {
                        JournalError::Fenced { .. } => AuctionError::Moved,
                        error => AuctionError::Journal(error),
                    })?;
                Ok((state, fence))
            }
            .into_actor(self)
            .map(
                |result: Result<(AuctionState, Option<Fence>), AuctionError>, act, _| {
                    // Committed under `fence`: served under it, until it is lost.
                    result.map(|(state, fence)| act.spawn_actor(state, fence))
                },
            ),
        )
    }
}

impl Handler<ResumeOpenAuctions> for AuctionRegistry {
    type Result = ResponseActFuture<Self, Result<usize, AuctionError>>;

    fn handle(&mut self, _: ResumeOpenAuctions, ctx: &mut Self::Context) -> Self::Result {
        let store = self.deps.store.clone();
        let me = ctx.address();
        Box::pin(
            async move {
                let open = store.open_auctions().await?;
                let mut spawned = 0;
                for auction_id in open {
                    match me.send(Resolve { auction_id }).await {
                        Ok(Ok(_)) => spawned += 1,
                        // Another node of the cluster serves it.
                        Ok(Err(AuctionError::Moved)) => {}
                        Ok(Err(error)) => {
                            tracing::warn!(%auction_id, %error, "an open auction did not resume");
                        }
                        Err(_) => return Err(AuctionError::Unavailable),
                    }
                }
                Ok(spawned)
            }
            .into_actor(self),
        )
    }
}

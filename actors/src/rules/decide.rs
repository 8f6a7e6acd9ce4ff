//! `decide`: a command and the state give events or a rejection. Pure.

use chrono::{DateTime, TimeDelta, Utc};

use super::emit::Emitter;
use super::{
    AuctionConfig, AuctionState, AuctionStatus, BidIds, BidRequest, Command, EndReason, Event,
    EventKind, ExtendReason, Rejection, bidding, prebids,
};
use crate::domain::Caller;

/// The longest manual extension at once (24 hours).
pub const MAX_MANUAL_EXTENSION_MS: i64 = 24 * 3_600_000;

/// The `Created` event of a new auction (seq 1), after validating `config`.
///
/// # Errors
/// [`Rejection::InvalidConfig`] for invalid settings, or a `hard_close_at`
/// that is already past.
pub fn create(config: AuctionConfig, now: DateTime<Utc>) -> Result<Event, Rejection> {
    config.validate()?;
    if config.hard_close_at.is_some_and(|hard| hard <= now) {
        return Err(Rejection::InvalidConfig {
            reason: "hard_close_at is in the past".to_owned(),
        });
    }
    Ok(Event {
        auction_id: config.id,
        seq: 1,
        at: now,
        kind: EventKind::Created { config },
    })
}

/// Decides what `command` from `caller` does to `state` at `now`; a bid or
/// pre-bid that is recorded takes its ids from `ids`. Starting enters the
/// auction's pre-bids as bids, in order, after the `started` event.
///
/// Returns the events to append and apply, in order, numbered after
/// `state.seq`; an empty list when nothing changes (an idempotent retry of a
/// recorded bid).
///
/// # Errors
/// A [`Rejection`] when the command is refused; the state is then unchanged.
pub fn decide(
    state: &AuctionState,
    caller: Caller,
    command: Command,
    ids: BidIds,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Rejection> {
    let mut out = Emitter::new(state, now);
    match command {
        Command::Bid(bid) => {
            let bid = BidRequest::new(caller.id, bid, ids);
            bidding::place_bid(state, bid, now, &mut out)?;
        }
        Command::BuyNow => bidding::buy_now(state, caller.id, now, &mut out)?,
        Command::Start => start(state, caller, now, &mut out)?,
        Command::Pause => pause(state, caller, now, &mut out)?,
        Command::Resume => resume(state, caller, now, &mut out)?,
        Command::Extend { by_ms } => extend(state, caller, by_ms, now, &mut out)?,
        Command::End => end(state, caller, &mut out)?,
        Command::Cancel => cancel(state, caller, &mut out)?,
        Command::PreBid(pre_bid) => prebids::place(state, caller.id, pre_bid, ids, &mut out)?,
        Command::WithdrawPreBid => prebids::withdraw(state, caller.id, &mut out)?,
    }
    Ok(out.into_events())
}

/// The timer's check: a live auction whose deadline has passed ends (the
/// `ended` event); otherwise nothing happens. Pure, like [`decide`].
#[must_use]
pub fn close(state: &AuctionState, now: DateTime<Utc>) -> Vec<Event> {
    let mut out = Emitter::new(state, now);
    let due = state.status == AuctionStatus::Live && state.ends_at.is_some_and(|at| now >= at);
    if due {
        emit_ended(state, EndReason::Timer, &mut out);
    }
    out.into_events()
}

fn authorize(state: &AuctionState, by: Caller) -> Result<(), Rejection> {
    if by.may_manage(state.config.seller_id) {
        Ok(())
    } else {
        Err(Rejection::Forbidden)
    }
}

/// Refuses lifecycle changes to a final auction, and any other status than
/// `allowed`.
fn require(
    state: &AuctionState,
    action: &'static str,
    allowed: &[AuctionStatus],
) -> Result<(), Rejection> {
    if state.status.is_final() {
        return Err(Rejection::AuctionClosed);
    }
    if allowed.contains(&state.status) {
        Ok(())
    } else {
        Err(Rejection::InvalidTransition {
            action,
            status: state.status,
        })
    }
}

/// `now + ms`, never past the hard close.
fn deadline_after(state: &AuctionState, from: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
    let at = from + TimeDelta::milliseconds(ms);
    match state.config.hard_close_at {
        Some(hard) if hard < at => hard,
        _ => at,
    }
}

/// A live auction whose deadline has passed takes no more changes.
fn require_before_deadline(state: &AuctionState, now: DateTime<Utc>) -> Result<(), Rejection> {
    match state.ends_at {
        Some(ends_at) if now >= ends_at => Err(Rejection::AuctionClosed),
        _ => Ok(()),
    }
}

fn start(
    state: &AuctionState,
    by: Caller,
    now: DateTime<Utc>,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    authorize(state, by)?;
    require(state, "start", &[AuctionStatus::Scheduled])?;
    let ends_at = deadline_after(state, now, state.config.duration_ms);
    if ends_at <= now {
        return Err(Rejection::InvalidTransition {
            action: "start after the hard close",
            status: state.status,
        });
    }
    out.emit(EventKind::Started { ends_at });
    prebids::enter(state, now, out);
    Ok(())
}

fn pause(
    state: &AuctionState,
    by: Caller,
    now: DateTime<Utc>,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    authorize(state, by)?;
    require(state, "pause", &[AuctionStatus::Live])?;
    require_before_deadline(state, now)?;
    let remaining_ms = state
        .ends_at
        .map_or(0, |ends_at| (ends_at - now).num_milliseconds());
    out.emit(EventKind::Paused { remaining_ms });
    Ok(())
}

fn resume(
    state: &AuctionState,
    by: Caller,
    now: DateTime<Utc>,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    authorize(state, by)?;
    require(state, "resume", &[AuctionStatus::Paused])?;
    let ends_at = deadline_after(state, now, state.remaining_ms.unwrap_or(0));
    out.emit(EventKind::Resumed { ends_at });
    Ok(())
}

fn extend(
    state: &AuctionState,
    by: Caller,
    by_ms: i64,
    now: DateTime<Utc>,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    authorize(state, by)?;
    require(state, "extend", &[AuctionStatus::Live])?;
    require_before_deadline(state, now)?;
    if !(1..=MAX_MANUAL_EXTENSION_MS).contains(&by_ms) {
        return Err(Rejection::InvalidAmount {
            reason: "an extension is between 1 ms and 24 hours",
        });
    }
    let current = state.ends_at.unwrap_or(now);
    let ends_at = deadline_after(state, current, by_ms);
    if ends_at <= current {
        return Err(Rejection::InvalidTransition {
            action: "extend past the hard close",
            status: state.status,
        });
    }
    out.emit(EventKind::Extended {
        ends_at,
        extensions: state.extensions,
        reason: ExtendReason::Manual,
    });
    Ok(())
}

fn end(state: &AuctionState, by: Caller, out: &mut Emitter<'_>) -> Result<(), Rejection> {
    authorize(state, by)?;
    require(state, "end", &[AuctionStatus::Live, AuctionStatus::Paused])?;
    emit_ended(state, EndReason::Hammer, out);
    Ok(())
}

fn cancel(state: &AuctionState, by: Caller, out: &mut Emitter<'_>) -> Result<(), Rejection> {
    authorize(state, by)?;
    require(
        state,
        "cancel",
        &[
            AuctionStatus::Scheduled,
            AuctionStatus::Live,
            AuctionStatus::Paused,
        ],
    )?;
    out.emit(EventKind::Cancelled);
    Ok(())
}

/// The leader wins at the current price if the reserve is met; else nobody.
fn emit_ended(state: &AuctionState, reason: EndReason, out: &mut Emitter<'_>) {
    let winner = state.leader.filter(|_| state.reserve_met);
    out.emit(EventKind::Ended {
        winner_id: winner.map(|l| l.bidder_id),
        final_price: winner.and(state.current_price),
        reserve_met: state.reserve_met,
        reason,
    });
}

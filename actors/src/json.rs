//! JSON written from its parts, for the texts made once per accepted bid: the
//! `bid.accepted` reply, the room's `auction.bid` frame, the journal's event
//! row, and the auction's view (in the reply and in its read-model row).
//!
//! Ids, numbers, flags, times and names from a fixed set hold nothing JSON
//! escapes, so they are written as they are. Through serde the keys and
//! every id and time go through serde_json's escaping loop, which made
//! these texts the costliest work of their threads (`docs/performance.md`).
//! Strings from outside (a client's request id) still go through serde_json.
//! Each text is serde's text of the same value byte for byte, which the
//! tests check, so a field added to a struct shows up there.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::write_time;
use crate::rules::{BidPlaced, EventKind};
use crate::view::AuctionView;

/// A JSON writer appending to a buffer.
#[derive(Debug)]
pub struct Raw<'a>(&'a mut Vec<u8>);

impl<'a> Raw<'a> {
    /// Writes at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self(out)
    }

    /// Bytes that are JSON as they stand: a key with its quotes, a comma, a
    /// brace.
    pub fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Any value through serde_json, escaped as it must be.
    pub fn serde(&mut self, value: &(impl Serialize + ?Sized)) {
        // Writing into a `Vec` cannot fail, and neither can serializing a
        // string, a JSON value or a struct of this crate's.
        let _infallible = serde_json::to_writer(&mut *self.0, value);
    }

    /// A quoted name from a fixed set of ASCII names (a status, a currency
    /// code): nothing in it to escape.
    pub fn name(&mut self, name: &str) {
        self.push(b"\"");
        self.push(name.as_bytes());
        self.push(b"\"");
    }

    /// A number.
    pub fn int(&mut self, value: impl itoa::Integer) {
        self.push(itoa::Buffer::new().format(value).as_bytes());
    }

    /// `true` or `false`.
    pub fn flag(&mut self, value: bool) {
        self.push(if value { b"true" } else { b"false" });
    }

    /// A hyphenated lower-case id, as uuid's serde writes it.
    pub fn id(&mut self, id: Uuid) {
        self.push(b"\"");
        self.push(
            id.hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        self.push(b"\"");
    }

    /// A time as the wire writes it, with milliseconds ([`WireTime`](crate::domain::WireTime)).
    pub fn time(&mut self, at: DateTime<Utc>) {
        write_time(self.0, at);
    }

    /// `null`.
    pub fn null(&mut self) {
        self.push(b"null");
    }

    /// A number or `null`.
    pub fn some_int(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    /// An id or `null`.
    pub fn some_id(&mut self, id: Option<Uuid>) {
        match id {
            Some(id) => self.id(id),
            None => self.null(),
        }
    }

    /// A wire time or `null`.
    pub fn some_time(&mut self, at: Option<DateTime<Utc>>) {
        match at {
            Some(at) => self.time(at),
            None => self.null(),
        }
    }

    /// A string from outside, escaped, or `null`.
    pub fn some_string(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.serde(text),
            None => self.null(),
        }
    }

    /// An [`AuctionView`], its fields in serde's order.
    pub fn view(&mut self, view: &AuctionView) {
        self.push(br#"{"id":"#);
        self.id(view.id.into());
        self.push(br#","seller_id":"#);
        self.id(view.seller_id.into());
        self.push(br#","product_id":"#);
        self.id(view.product_id.into());
        self.push(br#","show_id":"#);
        self.some_id(view.show_id.map(Uuid::from));
        self.push(br#","status":"#);
        self.name(view.status.as_str());
        self.push(br#","currency":"#);
        self.name(view.currency.as_str());
        self.push(br#","start_price":"#);
        self.int(view.start_price);
        self.push(br#","current_price":"#);
        self.some_int(view.current_price);
        self.push(br#","leader_id":"#);
        self.some_id(view.leader_id.map(Uuid::from));
        self.push(br#","bid_count":"#);
        self.int(view.bid_count);
        self.push(br#","min_next_bid":"#);
        self.int(view.min_next_bid);
        self.push(br#","reserve_met":"#);
        self.flag(view.reserve_met);
        self.push(br#","buy_now_price":"#);
        self.some_int(view.buy_now_price);
        self.push(br#","ends_at":"#);
        self.some_time(view.ends_at);
        self.push(br#","remaining_ms":"#);
        self.some_int(view.remaining_ms);
        self.push(br#","extensions":"#);
        self.int(view.extensions);
        self.push(br#","pre_bid_count":"#);
        self.int(view.pre_bid_count);
        self.push(br#","seq":"#);
        self.int(view.seq);
        self.push(br#","server_time":"#);
        self.time(view.server_time);
        self.push(b"}");
    }

    /// An [`EventKind`] as the journal keeps it, beside its row's auction,
    /// `seq` and time: a bid from its parts (one is written per accepted
    /// bid), any other kind through serde.
    pub fn event_kind(&mut self, kind: &EventKind) {
        let EventKind::BidPlaced(bid) = kind else {
            self.serde(kind);
            return;
        };
        self.push(br#"{"type":"bid_placed","#);
        self.bid_placed(bid);
        self.push(b"}");
    }

    /// A [`BidPlaced`]'s fields in serde's order, without its braces.
    fn bid_placed(&mut self, bid: &BidPlaced) {
        self.push(br#""bid_id":"#);
        self.id(bid.bid_id.into());
        self.push(br#","bidder_id":"#);
        self.id(bid.bidder_id.into());
        self.push(br#","amount":"#);
        self.int(bid.amount);
        self.push(br#","max_amount":"#);
        self.int(bid.max_amount);
        self.push(br#","request_id":"#);
        self.some_string(bid.request_id.as_deref());
        self.push(br#","automatic":"#);
        self.flag(bid.automatic);
        self.push(br#","leading":"#);
        self.flag(bid.leading);
        self.push(br#","current_price":"#);
        self.int(bid.current_price);
        self.push(br#","reserve_met":"#);
        self.flag(bid.reserve_met);
    }
}

/// `bytes` as a `String`: what [`Raw`] writes is ASCII and serde_json's
/// UTF-8.
#[must_use]
pub fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{BidId, UserId};

    /// Any id.
    pub(crate) fn uuid() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    /// Any time chrono can hold, as often a whole second or millisecond as
    /// not.
    pub(crate) fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (
            -70_000_000_000_i64..300_000_000_000,
            0_u32..2_000_000_000,
            0_usize..3,
        )
            .prop_map(|(seconds, nanos, cut)| {
                let nanos = nanos - nanos % [1, 1_000_000, 1_000_000_000][cut];
                DateTime::from_timestamp(seconds, nanos).unwrap_or_default()
            })
    }

    fn bid_placed() -> impl Strategy<Value = EventKind> {
        (
            (uuid(), uuid()),
            (any::<i64>(), any::<i64>(), any::<i64>()),
            prop::option::of(any::<String>()),
            (any::<bool>(), any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |(
                    (bid, bidder),
                    (amount, max_amount, current_price),
                    request_id,
                    (automatic, leading, reserve_met),
                )| {
                    EventKind::BidPlaced(BidPlaced {
                        bid_id: BidId::from(bid),
                        bidder_id: UserId::from(bidder),
                        amount,
                        max_amount,
                        request_id,
                        automatic,
                        leading,
                        current_price,
                        reserve_met,
                    })
                },
            )
    }

    fn written(kind: &EventKind) -> String {
        let mut out = Vec::new();
        Raw::new(&mut out).event_kind(kind);
        into_string(out)
    }

    proptest! {
        #[test]
        fn a_bid_event_is_serdes_text(kind in bid_placed()) {
            prop_assert_eq!(written(&kind), serde_json::to_string(&kind).unwrap());
        }
    }

    #[test]
    fn any_other_event_is_serdes_text() {
        let kind = EventKind::Cancelled;
        assert_eq!(written(&kind), serde_json::to_string(&kind).unwrap());
    }
}

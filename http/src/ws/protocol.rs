//! The WebSocket wire protocol (docs/websocket.md): one JSON object per text
//! frame. Client messages may carry an `id`; the direct reply echoes it.

use std::cell::RefCell;
use std::fmt::Display;

use blytz::Code;
use blytz_actors::json::{self, Raw};
use blytz_actors::rules::{Bid, PreBid, Rejection};
use blytz_actors::view::{AuctionView, BidOutcome, PreBidOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Join a room: `auction:<uuid>` or `show:<uuid>`.
    Subscribe {
        /// Echoed in the reply.
        id: Option<String>,
        /// The room.
        room: String,
    },
    /// Leave a room.
    Unsubscribe {
        /// Echoed in the reply.
        id: Option<String>,
        /// The room.
        room: String,
    },
    /// Place a bid (needs a token).
    Bid(BidMessage),
    /// Place or raise a pre-bid on a scheduled auction (needs a token).
    PreBid {
        /// Echoed in the reply.
        id: Option<String>,
        /// The auction.
        auction_id: String,
        /// `max_amount` and `request_id`, as REST's pre-bid body.
        #[serde(flatten)]
        pre_bid: PreBid,
    },
    /// Withdraw the caller's pre-bid before the auction starts (needs a token).
    WithdrawPreBid {
        /// Echoed in the reply.
        id: Option<String>,
        /// The auction.
        auction_id: String,
    },
    /// Post to a room's chat (needs a token).
    Chat {
        /// Echoed in the reply.
        id: Option<String>,
        /// The room: `show:<uuid>` or `auction:<uuid>`.
        room: String,
        /// The text (trimmed; 1 to 500 characters).
        text: String,
    },
    /// Moderate a room's chat (the seller, the show's moderators, admins).
    Moderate {
        /// Echoed in the reply.
        id: Option<String>,
        /// The room.
        room: String,
        /// The action and its fields, as `POST /shows/{id}/moderation` takes them.
        #[serde(flatten)]
        request: blytz::shows::ModerationRequest,
    },
    /// Claim units of a live flash sale (needs a token), as
    /// `POST /flash-sales/{id}/claims` does.
    Claim {
        /// Echoed in the reply.
        id: Option<String>,
        /// The flash sale.
        flash_sale_id: String,
        /// Units (default 1).
        #[serde(default)]
        quantity: Option<i64>,
    },
    /// Keep-alive; answered with `pong`.
    Ping {
        /// Echoed in the reply.
        id: Option<String>,
    },
}

/// A `bid` message: its fields spelled out rather than a flattened
/// [`Bid`], which serde would read through a buffered map of every field.
#[derive(Debug, Deserialize)]
pub struct BidMessage {
    /// The `type`, `bid`, when the message is read as a bid alone
    /// ([`ClientMessage::parse`]); none when read as a [`ClientMessage`],
    /// whose tag serde takes out first. Any other type fails to read here.
    #[serde(rename = "type", default)]
    kind: Option<BidTag>,
    /// Echoed in the reply.
    pub id: Option<String>,
    /// The auction.
    pub auction_id: String,
    /// As REST's bid body: the visible amount in minor units.
    pub amount: i64,
    /// As REST's bid body: the hidden maximum.
    #[serde(default)]
    pub max_amount: Option<i64>,
    /// As REST's bid body: the client's idempotency key.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The one `type` a [`BidMessage`] read alone accepts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum BidTag {
    Bid,
}

impl BidMessage {
    /// Its `id`, its auction, and the bid it places as REST's body would
    /// carry it.
    #[must_use]
    pub fn into_parts(self) -> (Option<String>, String, Bid) {
        let bid = Bid {
            amount: self.amount,
            max_amount: self.max_amount,
            request_id: self.request_id,
        };
        (self.id, self.auction_id, bid)
    }
}

impl ClientMessage {
    /// Reads one message from `text`.
    ///
    /// A bid, the message every bidder sends over and over, is read in one
    /// pass straight into a [`BidMessage`]. serde reads a `type`-tagged enum
    /// by first copying every field of the object into a buffered tree of
    /// owned values and then reading the variant from that tree, about
    /// twice the work. Every other message (its `type` fails the bid's
    /// read at once), and anything that is not a well-formed bid, is read
    /// that way, so its answer, errors included, is the enum's.
    ///
    /// # Errors
    /// Not JSON, an unknown `type`, a missing field or a field of the wrong
    /// type, with serde's description.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        if let Ok(bid @ BidMessage { kind: Some(_), .. }) = serde_json::from_str(text) {
            return Ok(Self::Bid(bid));
        }
        serde_json::from_str(text)
    }
}

/// The `id` of a message that failed to parse, if it had one.
pub fn id_of(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    match value.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{"type":"error","id",...,"code","message","details"}`.
///
/// Written from its parts, the fixed keys as they stand: a refused bid is
/// answered with one, and serde would escape every key and the code again
/// on each answer. Only the id, the message and the details can hold a
/// character to escape, and serde writes those; the message is escaped as
/// it is formatted, so a rejection is written without a string of its own.
pub fn error(
    id: Option<&str>,
    code: Code,
    message: &(impl Display + ?Sized),
    details: &(impl Serialize + ?Sized),
) -> String {
    let mut bytes = Vec::with_capacity(128 + id.map_or(0, str::len));
    let mut out = Raw::new(&mut bytes);
    error_head(&mut out, id);
    error_tail(&mut out, code, message, details);
    json::into_string(bytes)
}

/// An error reply up to its id.
fn error_head(out: &mut Raw<'_>, id: Option<&str>) {
    out.push(br#"{"type":"error""#);
    if let Some(id) = id {
        out.push(br#","id":"#);
        out.serde(id);
    }
}

/// An error reply after its id.
fn error_tail(
    out: &mut Raw<'_>,
    code: Code,
    message: &(impl Display + ?Sized),
    details: &(impl Serialize + ?Sized),
) {
    out.push(br#","code":""#);
    // A code is snake_case ASCII: nothing in it to escape.
    out.push(code.as_str().as_bytes());
    out.push(br#"","message":"#);
    out.serde(&Text(message));
    out.push(br#","details":"#);
    out.serde(details);
    out.push(b"}");
}

/// [`error`] for a refused command: the same text.
///
/// A refusal's code, message and details are the rejection's alone, and on
/// a contested auction dozens of bidders in a row are refused the same
/// way, `bid_too_low` at the same minimum. Each worker thread keeps what
/// follows the id in the last refusal it wrote, and writes an equal
/// refusal's by copying those bytes. Formatting the sentence and
/// serializing the details were most of what a refused bid's answer cost
/// (`docs/performance.md`).
pub fn refusal(id: Option<&str>, rejection: &Rejection) -> String {
    thread_local! {
        static LAST: RefCell<Option<(Rejection, Vec<u8>)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        let cached = last
            .as_ref()
            .filter(|(seen, _)| seen == rejection)
            .map(|(_, tail)| tail);
        // The head, an id with nothing to escape, and the tail: one allocation.
        let room = 24 + id.map_or(0, str::len) + cached.map_or(128, Vec::len);
        let mut bytes = Vec::with_capacity(room);
        error_head(&mut Raw::new(&mut bytes), id);
        if let Some(tail) = cached {
            bytes.extend_from_slice(tail);
        } else {
            let start = bytes.len();
            let details = rejection.details_fields();
            error_tail(
                &mut Raw::new(&mut bytes),
                rejection.code(),
                rejection,
                &details,
            );
            *last = Some((rejection.clone(), bytes[start..].to_vec()));
        }
        json::into_string(bytes)
    })
}

/// A `Display` value as a JSON string.
struct Text<'a, T: ?Sized>(&'a T);

impl<T: Display + ?Sized> Serialize for Text<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// `{"type":"bid.accepted","id",...,"bid","leading","auction"}`, written
/// straight from the outcome (this is on the bid path).
///
/// Every field but the client's `id` is an id, a number, a flag, a time or a
/// name from a fixed set, and JSON escapes nothing in any of them, so they
/// are written as they are. Through serde this reply was the costliest thing
/// a WebSocket worker did for an accepted bid, half of it in serde_json's
/// escaping of the keys and ids (`docs/performance.md`). The text is
/// serde's text of [`BidReceipt`](blytz_actors::view::BidReceipt) and
/// [`AuctionView`] byte for byte, which the tests check, so a field added to
/// either shows up there.
pub fn bid_accepted(id: Option<&str>, outcome: &BidOutcome) -> String {
    let mut bytes = Vec::with_capacity(REPLY_CAPACITY);
    let mut out = Raw::new(&mut bytes);
    out.push(br#"{"type":"bid.accepted""#);
    if let Some(id) = id {
        out.push(br#","id":"#);
        out.serde(id);
    }
    let bid = &outcome.bid;
    out.push(br#","bid":{"id":"#);
    out.id(bid.id.into());
    out.push(br#","amount":"#);
    out.int(bid.amount);
    out.push(br#","bidder_id":"#);
    out.id(bid.bidder_id.into());
    out.push(br#","created_at":"#);
    out.time(bid.created_at);
    out.push(br#"},"leading":"#);
    out.flag(outcome.leading);
    out.push(br#","auction":"#);
    out.view(&outcome.auction);
    out.push(b"}");
    json::into_string(bytes)
}

/// A `bid.accepted` reply is about 770 bytes (with a short client `id`).
const REPLY_CAPACITY: usize = 1024;

/// `{"type":"pre_bid.accepted","id",...,"pre_bid","auction"}`: the pre-bid
/// as its bidder alone sees it.
pub fn pre_bid_accepted(id: Option<&str>, outcome: &PreBidOutcome) -> String {
    with_id(
        json!({"type": "pre_bid.accepted", "pre_bid": outcome.pre_bid, "auction": outcome.auction}),
        id,
    )
}

/// `{"type":"pre_bid.withdrawn","id",...,"auction"}`.
pub fn pre_bid_withdrawn(id: Option<&str>, auction: &AuctionView) -> String {
    with_id(json!({"type": "pre_bid.withdrawn", "auction": auction}), id)
}

/// Add `id` (when the client gave one) and serialize.
pub fn with_id(mut value: Value, id: Option<&str>) -> String {
    if let (Some(id), Value::Object(map)) = (id, &mut value) {
        map.insert("id".into(), Value::from(id));
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use blytz_actors::domain::Currency;
    use blytz_actors::rules::AuctionStatus;
    use blytz_actors::view::BidReceipt;
    use chrono::DateTime;
    use proptest::prelude::*;
    use serde_json::Map;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn parses_client_messages() {
        let text = r#"{"type":"bid","id":"2","auction_id":"x","amount":1500,"max_amount":3000,"request_id":"r"}"#;
        let Ok(ClientMessage::Bid(message)) = ClientMessage::parse(text) else {
            panic!("a bid");
        };
        let (id, auction_id, bid) = message.into_parts();
        assert_eq!((id.as_deref(), auction_id.as_str()), (Some("2"), "x"));
        assert_eq!(
            bid,
            Bid {
                amount: 1500,
                max_amount: Some(3000),
                request_id: Some("r".to_owned()),
            }
        );
        let pre_bid: ClientMessage = serde_json::from_str(
            r#"{"type":"pre_bid","id":"3","auction_id":"x","max_amount":3000,"request_id":"p"}"#,
        )
        .unwrap();
        assert!(matches!(
            pre_bid,
            ClientMessage::PreBid {
                pre_bid: PreBid {
                    max_amount: 3000,
                    ..
                },
                ..
            }
        ));
        let withdraw: ClientMessage =
            serde_json::from_str(r#"{"type":"withdraw_pre_bid","auction_id":"x"}"#).unwrap();
        assert!(matches!(
            withdraw,
            ClientMessage::WithdrawPreBid { id: None, .. }
        ));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
        assert_eq!(id_of(r#"{"type":"dance","id":"7"}"#).as_deref(), Some("7"));
        assert_eq!(id_of("not json"), None);
    }

    #[test]
    fn a_bid_reads_the_same_on_either_path() {
        let texts = [
            r#"{"type":"bid","auction_id":"x","amount":1500}"#,
            r#"{"amount":1500,"auction_id":"x","type":"bid","id":"9","extra":[1,{"a":2}]}"#,
            r#"{"type":"b\u0069d","auction_id":"\u0078","amount":1,"max_amount":null}"#,
            r#"{"type":"bid","auction_id":"x"}"#,
            r#"{"type":"bid","auction_id":"x","amount":"1500"}"#,
            r#"{"type":"bid","auction_id":"x","amount":1,"amount":2}"#,
            r#"{"type":"bid","id":7,"auction_id":"x","amount":1}"#,
            r#"{"type":"ping","id":"1"}"#,
            r#"{"type":"bid""#,
        ];
        let read = |message: serde_json::Result<ClientMessage>| match message {
            Ok(ClientMessage::Bid(bid)) => format!("{:?}", bid.into_parts()),
            Ok(other) => format!("{other:?}"),
            Err(e) => e.to_string(),
        };
        for text in texts {
            assert_eq!(
                read(ClientMessage::parse(text)),
                read(serde_json::from_str(text)),
                "{text}"
            );
        }
        assert!(ClientMessage::parse(texts[0]).is_ok());
        assert!(ClientMessage::parse(texts[3]).is_err());
    }

    #[test]
    fn errors_echo_the_id() {
        let text = error(Some("3"), Code::BidTooLow, "too low", &Map::new());
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], "3");
        assert_eq!(value["type"], "error");
        assert_eq!(value["code"], "bid_too_low");
    }

    /// Rejections of each shape: a number, names, a text to escape, none.
    fn rejections() -> [Rejection; 6] {
        use blytz_actors::rules::AuctionStatus;
        [
            Rejection::BidTooLow { min_bid: 1600 },
            Rejection::BidTooLow { min_bid: 1650 },
            Rejection::InvalidTransition {
                action: "resume",
                status: AuctionStatus::Ended,
            },
            Rejection::InvalidConfig {
                reason: "a \"quoted\"\n reason\u{1}".into(),
            },
            Rejection::AuctionClosed,
            Rejection::InvalidRequestId,
        ]
    }

    #[test]
    fn a_rejection_is_written_as_its_sentence_and_its_details() {
        for rejection in rejections() {
            let Value::Object(details) = rejection.details() else {
                panic!("{rejection:?}: details are not an object");
            };
            assert_eq!(
                error(
                    Some("9"),
                    rejection.code(),
                    &rejection,
                    &rejection.details_fields()
                ),
                error(
                    Some("9"),
                    rejection.code(),
                    &rejection.to_string(),
                    &details
                ),
            );
        }
    }

    #[test]
    fn a_refusal_is_the_error_of_its_rejection_whatever_came_before() {
        let rejections = rejections();
        let ids = [None, Some("7"), Some("a \"quote\" and \u{0}")];
        // Each rejection after each other one and after itself, with each id.
        for before in &rejections {
            for rejection in &rejections {
                for id in ids {
                    refusal(Some("1"), before);
                    assert_eq!(
                        refusal(id, rejection),
                        error(id, rejection.code(), rejection, &rejection.details_fields()),
                        "{rejection:?} after {before:?}, id {id:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_error_is_the_json_of_its_parts_whatever_they_hold() {
        let mut details = Map::new();
        details.insert("min_bid".into(), json!(1600));
        details.insert("why \"quoted\"\n".into(), json!({"a": [1, "\u{1}"]}));
        for id in [None, Some("7"), Some("a \"quote\", a \\ and a \u{7f}\u{0}")] {
            for message in [
                "",
                "the bid is too low: the minimum bid is 1600",
                "é \"\t\r",
            ] {
                let text = error(id, Code::BidTooLow, message, &details);
                let mut want = json!({
                    "type": "error",
                    "code": "bid_too_low",
                    "message": message,
                    "details": details,
                });
                if let Some(id) = id {
                    want["id"] = json!(id);
                }
                let read: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(read, want, "{text}");
            }
        }
        // The keys come in the documented order.
        assert_eq!(
            error(Some("1"), Code::Internal, "m", &Map::new()),
            r#"{"type":"error","id":"1","code":"internal","message":"m","details":{}}"#
        );
    }

    /// Everything `bid_accepted` writes by hand, drawn at random: ids,
    /// amounts of any sign, every status, any currency, times at every edge
    /// the wire's writer has, and client ids that need escaping.
    fn outcome() -> impl Strategy<Value = BidOutcome> {
        let id = any::<u128>().prop_map(Uuid::from_u128);
        let time = (-70_000_000_000_i64..300_000_000_000, 0_u32..2_000_000_000).prop_map(
            |(seconds, nanos)| DateTime::from_timestamp(seconds, nanos).unwrap_or_default(),
        );
        let status = prop::sample::select(vec![
            AuctionStatus::Scheduled,
            AuctionStatus::Live,
            AuctionStatus::Paused,
            AuctionStatus::Ended,
            AuctionStatus::Cancelled,
        ]);
        let currency = "[A-Z]{3}".prop_map(|code| code.parse::<Currency>().unwrap());
        let ids = (
            id.clone(),
            id.clone(),
            id.clone(),
            prop::option::of(id.clone()),
            prop::option::of(id.clone()),
            id.clone(),
            id,
        );
        let numbers = (
            any::<i64>(),
            prop::option::of(any::<i64>()),
            any::<u32>(),
            any::<i64>(),
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<i64>(),
        );
        let times = (prop::option::of(time.clone()), time.clone(), time);
        let flags = (any::<bool>(), any::<bool>(), status, currency);
        (ids, numbers, times, flags).prop_map(
            |(
                (auction, seller, product, show, leader, bid, bidder),
                (start, current, count, min, buy_now, remaining, extensions, pre_bids, seq, amount),
                (ends_at, server_time, created_at),
                (leading, reserve_met, status, currency),
            )| BidOutcome {
                bid: BidReceipt {
                    id: bid.into(),
                    amount,
                    bidder_id: bidder.into(),
                    created_at,
                },
                leading,
                auction: AuctionView {
                    id: auction.into(),
                    seller_id: seller.into(),
                    product_id: product.into(),
                    show_id: show.map(Into::into),
                    status,
                    currency,
                    start_price: start,
                    current_price: current,
                    leader_id: leader.map(Into::into),
                    bid_count: count,
                    min_next_bid: min,
                    reserve_met,
                    buy_now_price: buy_now,
                    ends_at,
                    remaining_ms: remaining,
                    extensions,
                    pre_bid_count: pre_bids,
                    seq,
                    server_time,
                },
            },
        )
    }

    /// The reply as serde writes it.
    fn serdes_bid_accepted(id: Option<&str>, outcome: &BidOutcome) -> String {
        #[derive(Serialize)]
        struct Accepted<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
            #[serde(flatten)]
            outcome: &'a BidOutcome,
        }
        serde_json::to_string(&Accepted {
            kind: "bid.accepted",
            id,
            outcome,
        })
        .unwrap()
    }

    proptest! {
        #[test]
        fn bid_accepted_is_serdes_text(id in prop::option::of(any::<String>()), outcome in outcome()) {
            prop_assert_eq!(
                bid_accepted(id.as_deref(), &outcome),
                serdes_bid_accepted(id.as_deref(), &outcome)
            );
        }
    }
}

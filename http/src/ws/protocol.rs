//! The WebSocket wire protocol (docs/websocket.md): one JSON object per text
//! frame. Client messages may carry an `id`; the direct reply echoes it.

use blytz::Code;
use blytz_actors::rules::{Bid, PreBid};
use blytz_actors::view::{AuctionView, BidOutcome, BidReceipt, PreBidOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

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
    Bid {
        /// Echoed in the reply.
        id: Option<String>,
        /// The auction.
        auction_id: String,
        /// `amount`, `max_amount` and `request_id`, as REST's bid body.
        #[serde(flatten)]
        bid: Bid,
    },
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
/// Serialized straight from its parts (a rejected bid is answered with one).
pub fn error(id: Option<&str>, code: Code, message: &str, details: &Map<String, Value>) -> String {
    #[derive(Serialize)]
    struct ErrorReply<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        code: Code,
        message: &'a str,
        details: &'a Map<String, Value>,
    }
    let reply = ErrorReply {
        kind: "error",
        id,
        code,
        message,
        details,
    };
    // Strings, a code and a JSON map always serialize.
    serde_json::to_string(&reply).unwrap_or_default()
}

/// `{"type":"bid.accepted","id",...,"bid","leading","auction"}`, serialized
/// straight from the outcome (this is on the bid path).
pub fn bid_accepted(id: Option<&str>, outcome: &BidOutcome) -> String {
    // The outcome's fields spelled out: a flattened struct would go through
    // serde's much slower map path.
    #[derive(Serialize)]
    struct Accepted<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        bid: &'a BidReceipt,
        leading: bool,
        auction: &'a AuctionView,
    }
    let reply = Accepted {
        kind: "bid.accepted",
        id,
        bid: &outcome.bid,
        leading: outcome.leading,
        auction: &outcome.auction,
    };
    // A struct of ids, numbers, strings and times always serializes.
    serde_json::to_string(&reply).unwrap_or_default()
}

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
    use super::*;

    #[test]
    fn parses_client_messages() {
        let bid: ClientMessage = serde_json::from_str(
            r#"{"type":"bid","id":"2","auction_id":"x","amount":1500,"max_amount":3000,"request_id":"r"}"#,
        )
        .unwrap();
        assert!(matches!(
            bid,
            ClientMessage::Bid {
                bid: Bid {
                    amount: 1500,
                    max_amount: Some(3000),
                    ..
                },
                ..
            }
        ));
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
    fn errors_echo_the_id() {
        let text = error(Some("3"), Code::BidTooLow, "too low", &Map::new());
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], "3");
        assert_eq!(value["type"], "error");
        assert_eq!(value["code"], "bid_too_low");
    }
}

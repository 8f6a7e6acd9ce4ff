//! Every error code a client can see, with its HTTP status and the sentence
//! it says when nothing more specific is known: the one table.
//!
//! The engine's rejections, the services, REST and the WebSocket all answer
//! with a [`Code`]. A new code is one line here; a code without a status and
//! a message does not compile, and nothing maps codes to statuses anywhere
//! else. `docs/errors.md` lists them all for clients.

use serde::{Deserialize, Serialize};

/// Declares [`Code`] and its table: `Variant = ("wire_code", status, "message")`.
macro_rules! codes {
    ($( $(#[doc = $doc:literal])+ $variant:ident = ($code:literal, $status:literal, $message:literal), )+) => {
        /// A stable, machine-readable error code (snake_case on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum Code {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The wire name, e.g. `bid_too_low`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)+ }
            }

            /// The HTTP status a REST answer carries.
            #[must_use]
            pub const fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)+ }
            }

            /// The sentence for people when nothing more specific is known.
            #[must_use]
            pub const fn message(self) -> &'static str {
                match self { $(Code::$variant => $message,)+ }
            }
        }
    };
}

codes! {
    // Requests that cannot be read.
    /// The body is not well-formed JSON.
    InvalidJson = ("invalid_json", 400, "the body is not valid JSON"),
    /// A multipart upload that cannot be read.
    InvalidMultipart = ("invalid_multipart", 400, "the multipart body cannot be read"),
    /// A WebSocket message this server does not understand.
    InvalidMessage = ("invalid_message", 400, "not a message this server understands"),
    /// A webhook body that is not an event of its provider.
    InvalidEvent = ("invalid_event", 400, "the webhook body is not an event"),
    /// The body is larger than the route accepts.
    PayloadTooLarge = ("payload_too_large", 413, "the body is too large"),
    /// The body is not of a content type the route accepts.
    UnsupportedMediaType = ("unsupported_media_type", 415, "the body must be JSON with Content-Type: application/json"),
    /// A field breaks a rule (`details.field`, `details.rule`).
    ValidationFailed = ("validation_failed", 422, "a field of the request is invalid"),

    // Who is calling.
    /// The request needs an access token.
    NotAuthenticated = ("not_authenticated", 401, "this needs an access token"),
    /// The token is malformed, expired or revoked.
    InvalidToken = ("invalid_token", 401, "the token is invalid or expired"),
    /// Wrong email or password.
    InvalidCredentials = ("invalid_credentials", 401, "wrong email or password"),
    /// A refresh token was used twice: its whole family is revoked.
    TokenReused = ("token_reused", 401, "this refresh token was already used; sign in again"),
    /// A webhook whose signature is missing or does not match its body.
    InvalidSignature = ("invalid_signature", 401, "the signature is missing or does not match the body"),
    /// The caller may not do this.
    Forbidden = ("forbidden", 403, "only the owner or an admin may do this"),
    /// The email is registered already.
    EmailTaken = ("email_taken", 409, "this email is registered already"),

    // Anything that is not there.
    /// No such resource (or not visible to the caller).
    NotFound = ("not_found", 404, "no such resource"),
    /// A request names a user who does not exist.
    UserNotFound = ("user_not_found", 404, "no such user"),
    /// A request names something that does not exist, or that other data
    /// still refers to (a database reference the services did not foresee).
    InvalidReference = ("invalid_reference", 409, "it refers to something that does not exist, or is still referred to"),
    /// The same thing exists already (a unique key the services did not foresee).
    AlreadyExists = ("already_exists", 409, "this exists already"),

    // Auctions: the engine's rejections.
    /// The bid is below the minimum next bid (`details.min_bid`).
    BidTooLow = ("bid_too_low", 422, "the bid is below the minimum next bid"),
    /// An amount out of range, or a maximum below the amount.
    InvalidAmount = ("invalid_amount", 422, "the amount is invalid"),
    /// A new auction's settings are invalid.
    InvalidConfig = ("invalid_config", 422, "the auction's settings are invalid"),
    /// A seller bid on or bought their own auction.
    OwnAuction = ("own_auction", 403, "sellers cannot bid on or buy their own auction"),
    /// The auction is scheduled or paused.
    AuctionNotLive = ("auction_not_live", 409, "the auction is not live"),
    /// The auction has ended, was cancelled, or its deadline has passed.
    AuctionClosed = ("auction_closed", 409, "the auction is closed"),
    /// Buy-now is not offered, or no longer.
    BuyNowUnavailable = ("buy_now_unavailable", 409, "buy-now is not available"),
    /// The lifecycle does not allow this now.
    InvalidTransition = ("invalid_transition", 409, "this is not allowed in the current status"),
    /// The leader bid a maximum no higher than the one they hold.
    AlreadyLeading = ("already_leading", 409, "you already lead with this maximum or more"),
    /// A bid's `request_id` is empty, too long or not printable ASCII (`details.max_chars`).
    InvalidRequestId = ("invalid_request_id", 422, "a request_id is 1 to 64 printable ASCII characters"),
    /// A pre-bid, or its withdrawal, on an auction that is live or paused (`details.status`).
    AuctionNotScheduled = ("auction_not_scheduled", 409, "pre-bids are taken only before the auction starts"),
    /// A pre-bid's new maximum is not above the one it holds (`details.max_amount`).
    PreBidNotRaised = ("pre_bid_not_raised", 409, "a pre-bid can only be raised; withdraw it to lower it"),
    /// The caller holds no pre-bid on this auction.
    NoPreBid = ("no_pre_bid", 404, "you have no pre-bid on this auction"),

    // Shows and chat.
    /// The show has ended.
    ShowEnded = ("show_ended", 409, "the show has ended"),
    /// The show is not live.
    ShowNotLive = ("show_not_live", 409, "the show is not live"),
    /// A lot is still running.
    LotInProgress = ("lot_in_progress", 409, "a lot is still running"),
    /// No lot is left in the queue.
    QueueEmpty = ("queue_empty", 409, "no lot is left in the queue"),
    /// The lot has started and can no longer leave the queue.
    LotStarted = ("lot_started", 409, "the lot has started"),
    /// A chat message with no text.
    EmptyMessage = ("empty_message", 422, "the message is empty"),
    /// A chat message over the length limit (`details.max_chars`).
    MessageTooLong = ("message_too_long", 422, "the message is too long"),
    /// The caller is muted in this room.
    Muted = ("muted", 403, "you are muted in this room"),
    /// The caller is banned from this room.
    Banned = ("banned", 403, "you are banned from this room"),

    // Giveaways and flash sales.
    /// A seller entered or claimed from their own lot.
    OwnLot = ("own_lot", 403, "sellers cannot enter or buy their own lots"),
    /// The giveaway is not open for entries.
    GiveawayNotOpen = ("giveaway_not_open", 409, "the giveaway is not open for entries"),
    /// Only viewers present in the show's room may enter a giveaway.
    NotPresent = ("not_present", 409, "only viewers present in the show's room may enter"),
    /// The flash sale is scheduled, ended or cancelled.
    FlashSaleNotLive = ("flash_sale_not_live", 409, "the flash sale is not live"),
    /// The flash sale has fewer units left than claimed (`details.remaining`).
    SoldOut = ("sold_out", 409, "the flash sale is sold out"),
    /// The buyer reached the sale's per-buyer cap (`details.per_buyer_cap`, `details.claimed`).
    ClaimLimitReached = ("claim_limit_reached", 409, "you have claimed as many as one buyer may"),

    // The audience.
    /// A user tried to follow themselves.
    CannotFollowSelf = ("cannot_follow_self", 409, "you cannot follow yourself"),

    // Catalog.
    /// The product cannot be sold or auctioned in its status.
    ProductUnavailable = ("product_unavailable", 409, "the product is not available"),
    /// An open auction holds the product.
    ProductInAuction = ("product_in_auction", 409, "an open auction holds this product"),
    /// Someone else changed the resource at the same time.
    ConcurrentUpdate = ("concurrent_update", 409, "changed by someone else meanwhile; retry"),
    /// The category still has products or children.
    CategoryInUse = ("category_in_use", 409, "the category is in use"),
    /// Another category has this slug.
    SlugTaken = ("slug_taken", 409, "another category has this slug"),

    // Commerce.
    /// Stock is reserved by open orders.
    StockReserved = ("stock_reserved", 409, "stock is reserved by open orders"),
    /// A product ran out of stock (`details.product_id`).
    OutOfStock = ("out_of_stock", 409, "out of stock"),
    /// Fewer units are in stock than asked for.
    InsufficientStock = ("insufficient_stock", 409, "not enough stock"),
    /// The cart is empty.
    CartEmpty = ("cart_empty", 409, "the cart is empty"),
    /// The product has no buy-now price, so it cannot go in a cart.
    NotFixedPrice = ("not_fixed_price", 409, "this product has no fixed price"),
    /// Orders are paid through the payment gateway, not by hand.
    ManualPaymentsDisabled = ("manual_payments_disabled", 409, "payments go through the payment gateway"),
    /// A total beyond the largest amount.
    AmountTooLarge = ("amount_too_large", 422, "the amount is too large"),
    /// The payment provider refused the payment.
    PaymentRefused = ("payment_refused", 409, "the payment provider refused the request"),
    /// The payment provider cannot be reached.
    PaymentGatewayUnavailable = ("payment_gateway_unavailable", 503, "the payment provider is unavailable; retry"),
    /// Payments are manual on this server (no Stripe).
    PaymentsManual = ("payments_manual", 503, "payments are manual on this server"),
    /// Stripe is not configured on this server.
    StripeNotConfigured = ("stripe_not_configured", 503, "Stripe is not configured"),
    /// A bid here needs a card on file (`POST /payments/methods/setup`).
    PaymentMethodRequired = ("payment_method_required", 402, "a card on file is needed to bid here"),
    /// The card was declined or needs the buyer to authenticate (`details.reason`).
    PaymentDeclined = ("payment_declined", 402, "the card was declined"),
    /// The time to pay this order has passed: it lapsed.
    PaymentWindowClosed = ("payment_window_closed", 409, "the time to pay this order has passed"),
    /// Nobody but the winner bid on the lot: there is no runner-up to offer it to.
    NoRunnerUp = ("no_runner_up", 409, "nobody else bid on this lot"),
    /// A second-chance offer that was answered or has expired.
    OfferClosed = ("offer_closed", 409, "the offer was answered or has expired"),
    /// No carrier is configured on this server for booked deliveries.
    CarrierNotConfigured = ("carrier_not_configured", 503, "no carrier is configured on this server"),
    /// The delivery carrier refused the request (an address it cannot
    /// serve, a parcel it can no longer cancel, ...); the message says why.
    CarrierRefused = ("carrier_refused", 409, "the delivery carrier refused the request"),
    /// The delivery carrier cannot be reached or failed.
    CarrierUnavailable = ("carrier_unavailable", 503, "the delivery carrier is unavailable; retry"),

    // Notifications.
    /// Web Push is not configured on this server (no VAPID key).
    PushNotConfigured = ("push_not_configured", 503, "Web Push is not configured on this server"),
    /// An unsubscribe link that was not made by this server, or was changed.
    InvalidLink = ("invalid_link", 404, "this link is not valid"),

    // Video.
    /// LiveKit is not configured on this server.
    StreamingNotConfigured = ("streaming_not_configured", 503, "video is not configured on this server"),
    /// LiveKit cannot be reached.
    StreamingUnavailable = ("streaming_unavailable", 503, "the video service is unavailable; retry"),

    // Load and failure.
    /// Too many requests (`details.retry_after_secs`, `Retry-After`).
    RateLimited = ("rate_limited", 429, "too many requests; retry later"),
    /// Too many open WebSocket connections from one address (`details.max_connections`).
    TooManyConnections = ("too_many_connections", 429, "too many connections from this address"),
    /// A WebSocket connection in too many rooms at once (`details.max_rooms`).
    TooManyRooms = ("too_many_rooms", 409, "this connection is in too many rooms; unsubscribe from one first"),
    /// Something is being recovered or cannot be reached; retry shortly.
    Unavailable = ("unavailable", 503, "temporarily unavailable; retry shortly"),
    /// An unexpected failure: the cause is in the log under the request id.
    Internal = ("internal", 500, "internal server error"),
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets a code be compared with its wire name: `code == "bid_too_low"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn wire_names_are_unique_and_match_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert!((400..600).contains(&code.status()), "{code}");
            assert!(!code.message().is_empty());
        }
    }
}

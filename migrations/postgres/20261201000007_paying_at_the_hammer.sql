-- Paying at the hammer: cards on file, the automatic charge of the winner,
-- second chance, one shipment per show (bundles), seller payouts and
-- partial refunds.

-- An order whose automatic charge failed is `payment_failed` until the buyer
-- pays with another card or `payment_retry_until` passes; then it `lapsed`.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'pending_payment', 'payment_failed', 'lapsed', 'paid', 'processing', 'shipped',
    'delivered', 'cancelled', 'refunded'));
ALTER TABLE orders ADD COLUMN show_id UUID;
ALTER TABLE orders ADD COLUMN bundle_id UUID;
ALTER TABLE orders ADD COLUMN second_chance_of UUID REFERENCES orders (id);
ALTER TABLE orders ADD COLUMN payment_failure TEXT;
ALTER TABLE orders ADD COLUMN payment_retry_until TIMESTAMPTZ;
ALTER TABLE orders ADD COLUMN platform_fee BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0);
ALTER TABLE orders ADD COLUMN shipped_at TIMESTAMPTZ;
ALTER TABLE orders ADD COLUMN delivered_at TIMESTAMPTZ;
CREATE INDEX orders_bundle_idx ON orders (bundle_id);
CREATE INDEX orders_retry_idx ON orders (status, payment_retry_until);

-- Whether a bid needs a card on file (null: the default, on with Stripe).
ALTER TABLE auctions ADD COLUMN require_payment_method BOOLEAN;
ALTER TABLE shows ADD COLUMN require_payment_method BOOLEAN;

-- A buyer's customer at the payment gateway, made on first need.
CREATE TABLE payment_customers (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Saved cards: the gateway's id and what a person recognises, never a number.
CREATE TABLE payment_methods (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL UNIQUE,
    brand       TEXT NOT NULL,
    last4       TEXT NOT NULL,
    exp_month   BIGINT NOT NULL,
    exp_year    BIGINT NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX payment_methods_user_idx ON payment_methods (user_id, id);
CREATE UNIQUE INDEX payment_methods_one_default_idx ON payment_methods (user_id) WHERE is_default;

-- A seller's shipping: the first item of a bundle, then each additional one.
CREATE TABLE seller_shipping_rates (
    seller_id       UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    currency        TEXT NOT NULL,
    first_item      BIGINT NOT NULL CHECK (first_item >= 0),
    additional_item BIGINT NOT NULL CHECK (additional_item >= 0),
    updated_at      TIMESTAMPTZ NOT NULL
);

-- One buyer's purchases from one seller in one show: one parcel, one
-- shipping charge. Open until shipped; at most one open bundle per trio.
CREATE TABLE bundles (
    id              UUID PRIMARY KEY,
    buyer_id        UUID NOT NULL REFERENCES users (id),
    seller_id       UUID NOT NULL REFERENCES users (id),
    show_id         UUID NOT NULL REFERENCES shows (id),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'shipped', 'delivered')),
    provider        TEXT,
    carrier         TEXT,
    tracking_number TEXT,
    tracking_url    TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX bundles_one_open_idx ON bundles (buyer_id, seller_id, show_id, currency) WHERE status = 'open';
CREATE INDEX bundles_buyer_idx ON bundles (buyer_id, id);
CREATE INDEX bundles_seller_idx ON bundles (seller_id, id);
CREATE INDEX bundles_tracking_idx ON bundles (tracking_number);

-- A lapsed winner's lot offered to the runner-up at their highest bid.
CREATE TABLE second_chance_offers (
    id           UUID PRIMARY KEY,
    order_id     UUID NOT NULL UNIQUE REFERENCES orders (id),
    auction_id   UUID NOT NULL,
    buyer_id     UUID NOT NULL REFERENCES users (id),
    seller_id    UUID NOT NULL REFERENCES users (id),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('offered', 'accepted', 'declined', 'expired')),
    expires_at   TIMESTAMPTZ NOT NULL,
    new_order_id UUID REFERENCES orders (id),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX second_chance_buyer_idx ON second_chance_offers (buyer_id, id);

-- A seller's connected account for payouts.
CREATE TABLE seller_accounts (
    seller_id         UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    account_id        TEXT NOT NULL UNIQUE,
    payouts_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    details_submitted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

-- What an order paid its seller: one transfer per order, ever.
CREATE TABLE transfers (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL UNIQUE REFERENCES orders (id),
    seller_id   UUID NOT NULL REFERENCES users (id),
    account_id  TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount >= 0),
    currency    TEXT NOT NULL,
    transfer_id TEXT NOT NULL UNIQUE,
    reversed    BIGINT NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= amount),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX transfers_seller_idx ON transfers (seller_id, id);

-- Money paid back, in part or in full.
CREATE TABLE refunds (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    provider_id TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX refunds_order_idx ON refunds (order_id);

-- Carrier webhook reports already handled: a redelivery changes nothing.
CREATE TABLE carrier_events (
    id          TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);

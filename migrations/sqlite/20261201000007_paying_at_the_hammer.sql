-- no-transaction
-- Paying at the hammer: cards on file, the automatic charge of the winner,
-- second chance, one shipment per show (bundles), seller payouts and
-- partial refunds.
--
-- SQLite cannot change a CHECK in place: `orders` is rebuilt with its new
-- statuses and columns, the documented way (foreign keys off, a new table,
-- copy, drop, rename, check, in one transaction).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE orders_new (
    id                  BLOB PRIMARY KEY NOT NULL,
    buyer_id            BLOB NOT NULL REFERENCES users (id),
    seller_id           BLOB NOT NULL REFERENCES users (id),
    auction_id          BLOB UNIQUE,
    status              TEXT NOT NULL CHECK (status IN (
        'pending_payment', 'payment_failed', 'lapsed', 'paid', 'processing', 'shipped',
        'delivered', 'cancelled', 'refunded')),
    currency            TEXT NOT NULL,
    subtotal            INTEGER NOT NULL,
    tax                 INTEGER NOT NULL,
    shipping            INTEGER NOT NULL,
    total               INTEGER NOT NULL,
    shipping_address    TEXT,
    payment_due_at      TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    show_id             BLOB,
    bundle_id           BLOB,
    second_chance_of    BLOB REFERENCES orders (id),
    payment_failure     TEXT,
    payment_retry_until TEXT,
    platform_fee        INTEGER NOT NULL DEFAULT 0,
    refunded            INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    shipped_at          TEXT,
    delivered_at        TEXT
);
INSERT INTO orders_new (id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax,
    shipping, total, shipping_address, payment_due_at, created_at, updated_at)
SELECT id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax,
    shipping, total, shipping_address, payment_due_at, created_at, updated_at FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_buyer_idx ON orders (buyer_id, id);
CREATE INDEX orders_seller_idx ON orders (seller_id, id);
CREATE INDEX orders_status_idx ON orders (status, payment_due_at);
CREATE INDEX orders_bundle_idx ON orders (bundle_id);
CREATE INDEX orders_retry_idx ON orders (status, payment_retry_until);

-- Whether a bid needs a card on file (null: the default, on with Stripe).
ALTER TABLE auctions ADD COLUMN require_payment_method BOOLEAN;
ALTER TABLE shows ADD COLUMN require_payment_method BOOLEAN;

-- A buyer's customer at the payment gateway, made on first need.
CREATE TABLE payment_customers (
    user_id     BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- Saved cards: the gateway's id and what a person recognises, never a number.
CREATE TABLE payment_methods (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL UNIQUE,
    brand       TEXT NOT NULL,
    last4       TEXT NOT NULL,
    exp_month   INTEGER NOT NULL,
    exp_year    INTEGER NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT NOT NULL
);
CREATE INDEX payment_methods_user_idx ON payment_methods (user_id, id);
CREATE UNIQUE INDEX payment_methods_one_default_idx ON payment_methods (user_id) WHERE is_default;

-- A seller's shipping: the first item of a bundle, then each additional one.
CREATE TABLE seller_shipping_rates (
    seller_id       BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    currency        TEXT NOT NULL,
    first_item      INTEGER NOT NULL CHECK (first_item >= 0),
    additional_item INTEGER NOT NULL CHECK (additional_item >= 0),
    updated_at      TEXT NOT NULL
);

-- One buyer's purchases from one seller in one show: one parcel, one
-- shipping charge. Open until shipped; at most one open bundle per trio.
CREATE TABLE bundles (
    id              BLOB PRIMARY KEY NOT NULL,
    buyer_id        BLOB NOT NULL REFERENCES users (id),
    seller_id       BLOB NOT NULL REFERENCES users (id),
    show_id         BLOB NOT NULL REFERENCES shows (id),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'shipped', 'delivered')),
    provider        TEXT,
    carrier         TEXT,
    tracking_number TEXT,
    tracking_url    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX bundles_one_open_idx ON bundles (buyer_id, seller_id, show_id, currency) WHERE status = 'open';
CREATE INDEX bundles_buyer_idx ON bundles (buyer_id, id);
CREATE INDEX bundles_seller_idx ON bundles (seller_id, id);
CREATE INDEX bundles_tracking_idx ON bundles (tracking_number);

-- A lapsed winner's lot offered to the runner-up at their highest bid.
CREATE TABLE second_chance_offers (
    id           BLOB PRIMARY KEY NOT NULL,
    order_id     BLOB NOT NULL UNIQUE REFERENCES orders (id),
    auction_id   BLOB NOT NULL,
    buyer_id     BLOB NOT NULL REFERENCES users (id),
    seller_id    BLOB NOT NULL REFERENCES users (id),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('offered', 'accepted', 'declined', 'expired')),
    expires_at   TEXT NOT NULL,
    new_order_id BLOB REFERENCES orders (id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX second_chance_buyer_idx ON second_chance_offers (buyer_id, id);

-- A seller's connected account for payouts.
CREATE TABLE seller_accounts (
    seller_id         BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    account_id        TEXT NOT NULL UNIQUE,
    payouts_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    details_submitted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- What an order paid its seller: one transfer per order, ever.
CREATE TABLE transfers (
    id          BLOB PRIMARY KEY NOT NULL,
    order_id    BLOB NOT NULL UNIQUE REFERENCES orders (id),
    seller_id   BLOB NOT NULL REFERENCES users (id),
    account_id  TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    currency    TEXT NOT NULL,
    transfer_id TEXT NOT NULL UNIQUE,
    reversed    INTEGER NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= amount),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX transfers_seller_idx ON transfers (seller_id, id);

-- Money paid back, in part or in full.
CREATE TABLE refunds (
    id          BLOB PRIMARY KEY NOT NULL,
    order_id    BLOB NOT NULL REFERENCES orders (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    provider_id TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX refunds_order_idx ON refunds (order_id);

-- Carrier webhook reports already handled: a redelivery changes nothing.
CREATE TABLE carrier_events (
    id          TEXT PRIMARY KEY NOT NULL,
    provider    TEXT NOT NULL,
    received_at TEXT NOT NULL
);

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;

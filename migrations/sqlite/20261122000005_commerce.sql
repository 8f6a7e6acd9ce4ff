-- Commerce: stock, carts, addresses, orders, payments and shipments.
-- Ids are 16-byte UUID blobs; times are RFC 3339 text; money is INTEGER
-- minor units beside an ISO currency code; rates are basis points.

-- Stock per product. `reserved` is held by unpaid checkouts; what can still be
-- sold is `quantity - reserved`, and every reservation is one conditional
-- UPDATE, so stock is never oversold.
CREATE TABLE inventory (
    product_id          BLOB PRIMARY KEY NOT NULL REFERENCES products (id),
    seller_id           BLOB NOT NULL REFERENCES users (id),
    quantity            INTEGER NOT NULL CHECK (quantity >= 0),
    reserved            INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= quantity),
    low_stock_threshold INTEGER NOT NULL DEFAULT 5 CHECK (low_stock_threshold >= 0),
    updated_at          TEXT NOT NULL
);
CREATE INDEX inventory_seller_idx ON inventory (seller_id, product_id);

-- A cart belongs to a user or to a guest (who holds a token; only its
-- SHA-256 hash is stored).
CREATE TABLE carts (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (token_hash IS NULL))
);
CREATE INDEX carts_expires_idx ON carts (expires_at);

CREATE TABLE cart_items (
    cart_id    BLOB NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id BLOB NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    added_at   TEXT NOT NULL,
    PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE addresses (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type          TEXT NOT NULL CHECK (type IN ('shipping', 'billing')),
    label         TEXT,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    address_line1 TEXT NOT NULL,
    address_line2 TEXT,
    city          TEXT NOT NULL,
    state         TEXT,
    postal_code   TEXT NOT NULL,
    country       TEXT NOT NULL,
    phone         TEXT,
    is_default    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX addresses_user_idx ON addresses (user_id, id);
CREATE UNIQUE INDEX addresses_one_default_idx ON addresses (user_id, type) WHERE is_default;

-- An order is one buyer paying one seller. `auction_id` is unique: an
-- auction's ending yields at most one order, ever.
CREATE TABLE orders (
    id               BLOB PRIMARY KEY NOT NULL,
    buyer_id         BLOB NOT NULL REFERENCES users (id),
    seller_id        BLOB NOT NULL REFERENCES users (id),
    auction_id       BLOB UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid', 'processing', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency         TEXT NOT NULL,
    subtotal         INTEGER NOT NULL,
    tax              INTEGER NOT NULL,
    shipping         INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    shipping_address TEXT,
    payment_due_at   TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX orders_buyer_idx ON orders (buyer_id, id);
CREATE INDEX orders_seller_idx ON orders (seller_id, id);
CREATE INDEX orders_status_idx ON orders (status, payment_due_at);

-- Items snapshot the title and price at the time of the order.
CREATE TABLE order_items (
    id         BLOB PRIMARY KEY NOT NULL,
    order_id   BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BLOB NOT NULL,
    title      TEXT NOT NULL,
    unit_price INTEGER NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    line_total INTEGER NOT NULL
);
CREATE INDEX order_items_order_idx ON order_items (order_id);

-- Stock held for an unpaid order until `expires_at`.
CREATE TABLE stock_reservations (
    id         BLOB PRIMARY KEY NOT NULL,
    order_id   BLOB NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BLOB NOT NULL REFERENCES inventory (product_id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    status     TEXT NOT NULL CHECK (status IN ('active', 'committed', 'released')),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX stock_reservations_order_idx ON stock_reservations (order_id);
CREATE INDEX stock_reservations_expiry_idx ON stock_reservations (status, expires_at);

CREATE TABLE payments (
    id          BLOB PRIMARY KEY NOT NULL,
    order_id    BLOB NOT NULL REFERENCES orders (id),
    provider    TEXT NOT NULL,
    intent_id   TEXT NOT NULL UNIQUE,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX payments_order_idx ON payments (order_id);

-- Stripe events already handled, by event id: a redelivery changes nothing.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE shipments (
    id              BLOB PRIMARY KEY NOT NULL,
    order_id        BLOB NOT NULL UNIQUE REFERENCES orders (id),
    provider        TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    tracking_url    TEXT,
    status          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE shipment_events (
    id          BLOB PRIMARY KEY NOT NULL,
    shipment_id BLOB NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    note        TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX shipment_events_shipment_idx ON shipment_events (shipment_id, at);

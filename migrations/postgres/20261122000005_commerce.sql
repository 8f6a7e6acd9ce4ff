-- Commerce: stock, carts, addresses, orders, payments and shipments.
-- Money is BIGINT
-- minor units beside an ISO currency code; rates are basis points.

-- Stock per product. `reserved` is held by unpaid checkouts; what can still be
-- sold is `quantity - reserved`, and every reservation is one conditional
-- UPDATE, so stock is never oversold.
CREATE TABLE inventory (
    product_id          UUID PRIMARY KEY REFERENCES products (id),
    seller_id           UUID NOT NULL REFERENCES users (id),
    quantity            BIGINT NOT NULL CHECK (quantity >= 0),
    reserved            BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= quantity),
    low_stock_threshold BIGINT NOT NULL DEFAULT 5 CHECK (low_stock_threshold >= 0),
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX inventory_seller_idx ON inventory (seller_id, product_id);

-- A cart belongs to a user or to a guest (who holds a token; only its
-- SHA-256 hash is stored).
CREATE TABLE carts (
    id         UUID PRIMARY KEY,
    user_id    UUID UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CHECK ((user_id IS NULL) <> (token_hash IS NULL))
);
CREATE INDEX carts_expires_idx ON carts (expires_at);

CREATE TABLE cart_items (
    cart_id    UUID NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES products (id),
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE addresses (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
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
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX addresses_user_idx ON addresses (user_id, id);
CREATE UNIQUE INDEX addresses_one_default_idx ON addresses (user_id, type) WHERE is_default;

-- An order is one buyer paying one seller. `auction_id` is unique: an
-- auction's ending yields at most one order, ever.
CREATE TABLE orders (
    id               UUID PRIMARY KEY,
    buyer_id         UUID NOT NULL REFERENCES users (id),
    seller_id        UUID NOT NULL REFERENCES users (id),
    auction_id       UUID UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid', 'processing', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency         TEXT NOT NULL,
    subtotal         BIGINT NOT NULL,
    tax              BIGINT NOT NULL,
    shipping         BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    shipping_address JSONB,
    payment_due_at   TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_buyer_idx ON orders (buyer_id, id);
CREATE INDEX orders_seller_idx ON orders (seller_id, id);
CREATE INDEX orders_status_idx ON orders (status, payment_due_at);

-- Items snapshot the title and price at the time of the order.
CREATE TABLE order_items (
    id         UUID PRIMARY KEY,
    order_id   UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    title      TEXT NOT NULL,
    unit_price BIGINT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    line_total BIGINT NOT NULL
);
CREATE INDEX order_items_order_idx ON order_items (order_id);

-- Stock held for an unpaid order until `expires_at`.
CREATE TABLE stock_reservations (
    id         UUID PRIMARY KEY,
    order_id   UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES inventory (product_id),
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    status     TEXT NOT NULL CHECK (status IN ('active', 'committed', 'released')),
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX stock_reservations_order_idx ON stock_reservations (order_id);
CREATE INDEX stock_reservations_expiry_idx ON stock_reservations (status, expires_at);

CREATE TABLE payments (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders (id),
    provider    TEXT NOT NULL,
    intent_id   TEXT NOT NULL UNIQUE,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_order_idx ON payments (order_id);

-- Stripe events already handled, by event id: a redelivery changes nothing.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE shipments (
    id              UUID PRIMARY KEY,
    order_id        UUID NOT NULL UNIQUE REFERENCES orders (id),
    provider        TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    tracking_url    TEXT,
    status          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE shipment_events (
    id          UUID PRIMARY KEY,
    shipment_id UUID NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    note        TEXT,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX shipment_events_shipment_idx ON shipment_events (shipment_id, at);

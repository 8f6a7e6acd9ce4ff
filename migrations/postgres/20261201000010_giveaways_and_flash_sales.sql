-- A show's queue holds lots of three kinds: auctions, giveaways and flash
-- sales. `show_lots.auction_id` keeps its name (the auction journal appends
-- auctions by it) and holds the lot's id whatever its kind.
ALTER TABLE show_lots ADD COLUMN kind TEXT NOT NULL DEFAULT 'auction'
    CHECK (kind IN ('auction', 'giveaway', 'flash_sale'));

-- A giveaway: viewers present in the show's room enter while it is open; a
-- verifiable draw picks the winner (docs/live-commerce.md). The seed stays
-- secret until the draw; its SHA-256 is published when it opens.
CREATE TABLE giveaways (
    id             UUID PRIMARY KEY,
    show_id        UUID NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    seller_id      UUID NOT NULL REFERENCES users (id),
    product_id     UUID NOT NULL REFERENCES products (id),
    title          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    duration_ms    BIGINT NOT NULL CHECK (duration_ms > 0),
    status         TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'drawn', 'cancelled')),
    seed           TEXT,
    seed_hash      TEXT,
    opened_at      TIMESTAMPTZ,
    closes_at      TIMESTAMPTZ,
    drawn_at       TIMESTAMPTZ,
    winner_id      UUID REFERENCES users (id),
    order_id       UUID REFERENCES orders (id),
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX giveaways_show_idx ON giveaways (show_id, id);
CREATE INDEX giveaways_due_idx ON giveaways (status, closes_at);

-- One entry per account and giveaway.
CREATE TABLE giveaway_entries (
    giveaway_id UUID NOT NULL REFERENCES giveaways (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entered_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (giveaway_id, user_id)
);

-- A flash sale: a product at a fixed price, a quantity, a time limit and a
-- per-buyer cap. `sold` never passes `quantity`: the claim's conditional
-- update says so, and the CHECK holds it besides.
CREATE TABLE flash_sales (
    id             UUID PRIMARY KEY,
    show_id        UUID NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    seller_id      UUID NOT NULL REFERENCES users (id),
    product_id     UUID NOT NULL REFERENCES products (id),
    title          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    price          BIGINT NOT NULL CHECK (price >= 0),
    list_price     BIGINT,
    quantity       BIGINT NOT NULL CHECK (quantity > 0),
    sold           BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= quantity),
    per_buyer_cap  BIGINT NOT NULL CHECK (per_buyer_cap > 0),
    duration_ms    BIGINT NOT NULL CHECK (duration_ms > 0),
    status         TEXT NOT NULL CHECK (status IN ('scheduled', 'live', 'ended', 'cancelled')),
    started_at     TIMESTAMPTZ,
    ends_at        TIMESTAMPTZ,
    ended_at       TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX flash_sales_show_idx ON flash_sales (show_id, id);
CREATE INDEX flash_sales_due_idx ON flash_sales (status, ends_at);

-- What each buyer claimed, and the order it made.
CREATE TABLE flash_sale_claims (
    id            UUID PRIMARY KEY,
    flash_sale_id UUID NOT NULL REFERENCES flash_sales (id) ON DELETE CASCADE,
    buyer_id      UUID NOT NULL REFERENCES users (id),
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    order_id      UUID NOT NULL REFERENCES orders (id),
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX flash_sale_claims_buyer_idx ON flash_sale_claims (flash_sale_id, buyer_id);

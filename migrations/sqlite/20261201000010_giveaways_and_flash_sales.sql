-- Ids are 16-byte UUID blobs; times are RFC 3339 text.
-- A show's queue holds lots of three kinds: auctions, giveaways and flash
-- sales. `show_lots.auction_id` keeps its name (the auction journal appends
-- auctions by it) and holds the lot's id whatever its kind.
ALTER TABLE show_lots ADD COLUMN kind TEXT NOT NULL DEFAULT 'auction'
    CHECK (kind IN ('auction', 'giveaway', 'flash_sale'));

-- A giveaway: viewers present in the show's room enter while it is open; a
-- verifiable draw picks the winner (docs/live-commerce.md). The seed stays
-- secret until the draw; its SHA-256 is published when it opens.
CREATE TABLE giveaways (
    id             BLOB PRIMARY KEY NOT NULL,
    show_id        BLOB NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    seller_id      BLOB NOT NULL REFERENCES users (id),
    product_id     BLOB NOT NULL REFERENCES products (id),
    title          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    duration_ms    INTEGER NOT NULL CHECK (duration_ms > 0),
    status         TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'drawn', 'cancelled')),
    seed           TEXT,
    seed_hash      TEXT,
    opened_at      TEXT,
    closes_at      TEXT,
    drawn_at       TEXT,
    winner_id      BLOB REFERENCES users (id),
    order_id       BLOB REFERENCES orders (id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX giveaways_show_idx ON giveaways (show_id, id);
CREATE INDEX giveaways_due_idx ON giveaways (status, closes_at);

-- One entry per account and giveaway.
CREATE TABLE giveaway_entries (
    giveaway_id BLOB NOT NULL REFERENCES giveaways (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entered_at  TEXT NOT NULL,
    PRIMARY KEY (giveaway_id, user_id)
);

-- A flash sale: a product at a fixed price, a quantity, a time limit and a
-- per-buyer cap. `sold` never passes `quantity`: the claim's conditional
-- update says so, and the CHECK holds it besides.
CREATE TABLE flash_sales (
    id             BLOB PRIMARY KEY NOT NULL,
    show_id        BLOB NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    seller_id      BLOB NOT NULL REFERENCES users (id),
    product_id     BLOB NOT NULL REFERENCES products (id),
    title          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    price          INTEGER NOT NULL CHECK (price >= 0),
    list_price     INTEGER,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    sold           INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= quantity),
    per_buyer_cap  INTEGER NOT NULL CHECK (per_buyer_cap > 0),
    duration_ms    INTEGER NOT NULL CHECK (duration_ms > 0),
    status         TEXT NOT NULL CHECK (status IN ('scheduled', 'live', 'ended', 'cancelled')),
    started_at     TEXT,
    ends_at        TEXT,
    ended_at       TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX flash_sales_show_idx ON flash_sales (show_id, id);
CREATE INDEX flash_sales_due_idx ON flash_sales (status, ends_at);

-- What each buyer claimed, and the order it made.
CREATE TABLE flash_sale_claims (
    id            BLOB PRIMARY KEY NOT NULL,
    flash_sale_id BLOB NOT NULL REFERENCES flash_sales (id) ON DELETE CASCADE,
    buyer_id      BLOB NOT NULL REFERENCES users (id),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    order_id      BLOB NOT NULL REFERENCES orders (id),
    created_at    TEXT NOT NULL
);
CREATE INDEX flash_sale_claims_buyer_idx ON flash_sale_claims (flash_sale_id, buyer_id);

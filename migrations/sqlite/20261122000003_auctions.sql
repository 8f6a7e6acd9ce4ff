-- The auction journal and its read models.
--
-- `auction_events` is the journal of record: every accepted event, keyed by
-- (auction_id, seq), gapless per auction, written by the group-commit writer.
-- `auctions` and `bids` are read models for lists and history, updated in the
-- same transaction as the events they reflect. `outbox` rows are side effects
-- (the winner's order, notifications) written with the event that causes them
-- and consumed idempotently: (topic, key) is unique, so one ending yields one row.

CREATE TABLE auctions (
    id            BLOB PRIMARY KEY NOT NULL,
    seller_id     BLOB NOT NULL REFERENCES users (id),
    product_id    BLOB NOT NULL,
    show_id       BLOB,
    status        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    start_price   INTEGER NOT NULL,
    current_price INTEGER,
    leader_id     BLOB,
    bid_count     INTEGER NOT NULL DEFAULT 0,
    ends_at       TEXT,
    seq           INTEGER NOT NULL,
    view          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX auctions_status_idx ON auctions (status, id);
CREATE INDEX auctions_seller_idx ON auctions (seller_id, id);
CREATE INDEX auctions_show_idx ON auctions (show_id, id);
CREATE INDEX auctions_product_idx ON auctions (product_id);
CREATE INDEX auctions_ends_at_idx ON auctions (ends_at);

CREATE TABLE auction_events (
    auction_id BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    at         TEXT NOT NULL,
    payload    TEXT NOT NULL,
    PRIMARY KEY (auction_id, seq)
) WITHOUT ROWID;

CREATE TABLE auction_snapshots (
    auction_id BLOB PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    state      TEXT NOT NULL,
    taken_at   TEXT NOT NULL
);

CREATE TABLE bids (
    id         BLOB PRIMARY KEY NOT NULL,
    auction_id BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    bidder_id  BLOB NOT NULL,
    amount     INTEGER NOT NULL,
    automatic  BOOLEAN NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX bids_auction_idx ON bids (auction_id, seq);
CREATE INDEX bids_bidder_idx ON bids (bidder_id);

CREATE TABLE outbox (
    id           BLOB PRIMARY KEY NOT NULL,
    topic        TEXT NOT NULL,
    key          TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    processed_at TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic, key)
);
CREATE INDEX outbox_pending_idx ON outbox (topic, processed_at, created_at);

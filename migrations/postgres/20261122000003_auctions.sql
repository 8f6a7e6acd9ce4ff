-- The auction journal and its read models.
--
-- `auction_events` is the journal of record: every accepted event, keyed by
-- (auction_id, seq), gapless per auction, written by the group-commit writer.
-- `auctions` and `bids` are read models for lists and history, updated in the
-- same transaction as the events they reflect. `outbox` rows are side effects
-- (the winner's order, notifications) written with the event that causes them
-- and consumed idempotently: (topic, key) is unique, so one ending yields one row.

CREATE TABLE auctions (
    id            UUID PRIMARY KEY,
    seller_id     UUID NOT NULL REFERENCES users (id),
    product_id    UUID NOT NULL,
    show_id       UUID,
    status        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    start_price   BIGINT NOT NULL,
    current_price BIGINT,
    leader_id     UUID,
    bid_count     BIGINT NOT NULL DEFAULT 0,
    ends_at       TIMESTAMPTZ,
    seq           BIGINT NOT NULL,
    view          JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX auctions_status_idx ON auctions (status, id);
CREATE INDEX auctions_seller_idx ON auctions (seller_id, id);
CREATE INDEX auctions_show_idx ON auctions (show_id, id);
CREATE INDEX auctions_product_idx ON auctions (product_id);
CREATE INDEX auctions_ends_at_idx ON auctions (ends_at);

CREATE TABLE auction_events (
    auction_id UUID NOT NULL,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    payload    JSONB NOT NULL,
    PRIMARY KEY (auction_id, seq)
);

CREATE TABLE auction_snapshots (
    auction_id UUID PRIMARY KEY,
    seq        BIGINT NOT NULL,
    state      JSONB NOT NULL,
    taken_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE bids (
    id         UUID PRIMARY KEY,
    auction_id UUID NOT NULL,
    seq        BIGINT NOT NULL,
    bidder_id  UUID NOT NULL,
    amount     BIGINT NOT NULL,
    automatic  BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX bids_auction_idx ON bids (auction_id, seq);
CREATE INDEX bids_bidder_idx ON bids (bidder_id);

CREATE TABLE outbox (
    id           UUID PRIMARY KEY,
    topic        TEXT NOT NULL,
    key          TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ,
    attempts     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic, key)
);
CREATE INDEX outbox_pending_idx ON outbox (topic, processed_at, created_at);

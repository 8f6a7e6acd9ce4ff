-- Cluster mode (BLYTZ_CLUSTER=on): nodes and the shard leases that say which
-- node serves which auctions. Times are the database's clock.
CREATE TABLE cluster_nodes (
    node_id      TEXT PRIMARY KEY,
    -- Where other nodes reach this one (BLYTZ_ADVERTISE_URL).
    address      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Handing its shards over before it stops (a rolling deploy).
    draining     BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE shard_leases (
    shard       INTEGER PRIMARY KEY CHECK (shard >= 0),
    -- NULL: free to claim.
    node_id     TEXT,
    -- Grows by one with every claim; the journal's transaction checks it.
    epoch       BIGINT NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    lease_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);

-- One row: the cluster's own name, made by its first node. Room frames
-- travel on a Redis channel named after it, so clusters sharing a Redis
-- never hear each other.
CREATE TABLE cluster_identity (
    one        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    cluster_id UUID NOT NULL
);

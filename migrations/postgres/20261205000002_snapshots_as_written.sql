-- An auction's snapshot is kept as it was written, and compressed with lz4.
-- Nothing queries inside a snapshot: recovery reads it whole and decodes it
-- with serde. As `jsonb`, each was parsed into a tree on the way in, then
-- compressed with pglz; a hot auction whose state remembers its bidders'
-- request ids writes one of a few hundred KB (`docs/performance.md`, "Bids
-- with a `request_id`"), and upserting a 278 KB state took a backend 7.4 ms
-- as `jsonb` with pglz, 1.5 ms as `json` with lz4.
ALTER TABLE auction_snapshots ALTER COLUMN state TYPE json USING state::json;

-- A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE auction_snapshots ALTER COLUMN state SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END $$;

-- The journal's rows in the order they were committed, keyed by (auction_id,
-- seq) through a unique index rather than clustered on it.
--
-- Clustered on (auction_id, seq), a commit of bids of many auctions inserted
-- each row into the middle of the table, at its auction's tail: a page of
-- about nine rows for every bid of the commit, split every few bids, each
-- written whole to the WAL (about 96 pages for 33 bids of 33 auctions). In
-- commit order a commit's rows share a few pages at the table's end, and
-- what each bid touches alone is its auction's leaf of the index, whose
-- entries are a tenth the size of a row (about 49 pages for the same commit).
CREATE TABLE auction_events_by_commit (
    pos        INTEGER PRIMARY KEY,
    auction_id BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    at         TEXT NOT NULL,
    payload    TEXT NOT NULL
);
INSERT INTO auction_events_by_commit (auction_id, seq, kind, at, payload)
    SELECT auction_id, seq, kind, at, payload FROM auction_events ORDER BY at, auction_id, seq;
DROP TABLE auction_events;
ALTER TABLE auction_events_by_commit RENAME TO auction_events;
CREATE UNIQUE INDEX auction_events_key ON auction_events (auction_id, seq);

-- The journal's key (auction_id, seq) is checked in the commit against each
-- auction's newest seq, and the lookup of an auction's events by seq is
-- written behind the commit.
--
-- With the unique index on (auction_id, seq), every bid of a commit wrote
-- its own auction's leaf of that index to the WAL, whole: of a commit of
-- bids of many auctions, most of the pages written were those leaves, one a
-- bid. Now a commit writes the table's last pages and one small table of
-- heads (one row an auction: the check), and `auction_event_keys`, the
-- lookup by auction, is filled from the rows after `auction_event_keys_upto`
-- by the settle of the read models, one leaf an auction for many bids.
-- Reads take the keys up to that mark and scan the rows after it.

-- The newest seq of each auction: an event must come after it.
CREATE TABLE auction_event_heads (
    auction_id BLOB PRIMARY KEY,
    seq        INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO auction_event_heads (auction_id, seq)
    SELECT auction_id, max(seq) FROM auction_events GROUP BY auction_id;

-- An event at or before its auction's newest is refused, as the unique
-- index refused a repeated key (the journal reads this as a conflict).
CREATE TRIGGER auction_events_key BEFORE INSERT ON auction_events
BEGIN
    SELECT RAISE(ABORT, 'journal conflict: an event at or before its auction''s newest seq')
        WHERE NEW.seq <= (SELECT seq FROM auction_event_heads WHERE auction_id = NEW.auction_id);
    INSERT INTO auction_event_heads (auction_id, seq) VALUES (NEW.auction_id, NEW.seq)
        ON CONFLICT (auction_id) DO UPDATE SET seq = excluded.seq;
END;

-- The events of each auction by seq (`pos` is the row in `auction_events`),
-- for the rows up to `auction_event_keys_upto.pos`.
CREATE TABLE auction_event_keys (
    auction_id BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    pos        INTEGER NOT NULL,
    PRIMARY KEY (auction_id, seq)
) WITHOUT ROWID;
INSERT INTO auction_event_keys (auction_id, seq, kind, pos)
    SELECT auction_id, seq, kind, pos FROM auction_events;

CREATE TABLE auction_event_keys_upto (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    pos INTEGER NOT NULL
);
INSERT INTO auction_event_keys_upto (id, pos)
    SELECT 1, coalesce(max(pos), 0) FROM auction_events;

DROP INDEX auction_events_key;

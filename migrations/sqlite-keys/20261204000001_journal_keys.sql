-- The lookup of the journal's rows by auction (SQLite), in a file of its own
-- (`blytz-keys.db` beside `blytz.db`), attached to the main file's
-- connections as `keys`. Only the keys' catch-up writes it: it takes this
-- file's write lock, never the journal's, so no commit waits for it. Derived
-- from `auction_events` and rebuilt from the mark when lost.

-- The events of each auction by seq (`pos` is the row in the main file's
-- `auction_events`), for the rows up to `auction_event_keys_upto.pos`.
CREATE TABLE auction_event_keys (
    auction_id BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    pos        INTEGER NOT NULL,
    PRIMARY KEY (auction_id, seq)
) WITHOUT ROWID;

CREATE TABLE auction_event_keys_upto (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    pos INTEGER NOT NULL
);
INSERT INTO auction_event_keys_upto (id, pos) VALUES (1, 0);

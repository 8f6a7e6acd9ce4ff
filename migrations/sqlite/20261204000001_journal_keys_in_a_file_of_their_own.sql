-- The lookup of the journal's rows by auction moves to a file of its own
-- (migrations/sqlite-keys): written here, its catch-up held the file's one
-- write lock, and the journal's commits waited for it. The new file's keys
-- start at the first row and are caught up from the journal's rows.
DROP TABLE auction_event_keys;
DROP TABLE auction_event_keys_upto;

-- The journal keeps each event's JSON as it was written. `jsonb` parsed
-- every event into a tree on the way in, for nothing: the journal is read a
-- whole row at a time and decoded by the server, never queried inside its
-- payload. `json` checks the text and stores it, which is most of a
-- commit's work on PostgreSQL per event row after its index entry.
ALTER TABLE auction_events ALTER COLUMN payload TYPE json USING payload::json;

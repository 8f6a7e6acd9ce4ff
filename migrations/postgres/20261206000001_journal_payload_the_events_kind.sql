-- A journal row's payload is its event's kind alone (`{"type": ..., ...}`).
-- The whole event repeated the row's own `auction_id`, `seq` and `at` in
-- its JSON, about a third of a bid's row: bytes each commit checks, writes
-- and flushes for nothing. The readers take those from the row's columns.
-- Rows already of the new form are left as they are.
UPDATE auction_events
SET payload = payload -> 'kind'
WHERE json_typeof(payload -> 'kind') = 'object'
  AND payload -> 'seq' IS NOT NULL;

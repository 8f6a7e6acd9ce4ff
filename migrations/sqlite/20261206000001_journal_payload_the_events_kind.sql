-- A journal row's payload is its event's kind alone (`{"type": ..., ...}`).
-- The whole event repeated the row's own `auction_id`, `seq` and `at` in
-- its JSON, about a third of a bid's row: pages the commit writes and
-- flushes for nothing. The readers take those from the row's columns.
-- Rows already of the new form, or not JSON at all, are left as they are.
UPDATE auction_events
SET payload = json_extract(payload, '$.kind')
WHERE CASE
    WHEN json_valid(payload)
        THEN json_type(payload, '$.kind') = 'object'
            AND json_type(payload, '$.seq') IS NOT NULL
    ELSE 0
END;

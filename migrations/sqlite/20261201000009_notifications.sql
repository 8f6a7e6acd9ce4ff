-- Notifications: each notice written once (its dedup key), to the user's
-- inbox, and queued for delivery by email and Web Push by their preferences.
-- Ids are 16-byte UUID blobs; times are RFC 3339 text.

CREATE TABLE notifications (
    id         BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    -- What the notice is about (an auction, a show, an order), for coalescing.
    subject    TEXT NOT NULL,
    -- One notice per key, however often the event that makes it is processed.
    dedup_key  TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    url        TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at    TEXT
);
-- A user's inbox, newest first.
CREATE INDEX notifications_inbox_idx ON notifications (user_id, id);
-- The latest notice of a kind about a subject (outbid coalescing).
CREATE INDEX notifications_subject_idx ON notifications (user_id, kind, subject, created_at);

-- A browser's push subscription.
CREATE TABLE push_subscriptions (
    id         BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);

-- One delivery of one notice by one channel (`email`, or `push` to one
-- subscription): made with the notice, retried with back-off until sent.
CREATE TABLE notification_deliveries (
    id              BLOB PRIMARY KEY,
    notification_id BLOB NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'push')),
    -- The push subscription; empty for email.
    target          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    sent_at         TEXT,
    UNIQUE (notification_id, channel, target)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (status, next_attempt_at);

-- A user's choices per kind of notice; a kind without a row has every channel on.
CREATE TABLE notification_preferences (
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    email   BOOLEAN NOT NULL,
    push    BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, kind)
);

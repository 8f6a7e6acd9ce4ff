-- Shows: a seller's live session with a video room, a chat and a queue of lots.
CREATE TABLE shows (
    id                  BLOB PRIMARY KEY NOT NULL,
    seller_id           BLOB NOT NULL REFERENCES users (id),
    title               TEXT NOT NULL,
    description         TEXT NOT NULL,
    cover_image_url     TEXT,
    status              TEXT NOT NULL CHECK (status IN ('scheduled', 'live', 'ended')),
    scheduled_at        TEXT NOT NULL,
    started_at          TEXT,
    ended_at            TEXT,
    -- The LiveKit room (named after the show) and what LiveKit last reported.
    livekit_room        TEXT NOT NULL UNIQUE,
    stream_status       TEXT NOT NULL DEFAULT 'idle',
    stream_participants INTEGER NOT NULL DEFAULT 0,
    slow_mode_secs      INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX shows_status_idx ON shows (status, scheduled_at, id);
CREATE INDEX shows_seller_idx ON shows (seller_id, id);

-- The ordered queue of a show's lots (one auction each).
CREATE TABLE show_lots (
    show_id    BLOB NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    auction_id BLOB NOT NULL UNIQUE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (show_id, auction_id)
);
CREATE INDEX show_lots_order_idx ON show_lots (show_id, position);

CREATE TABLE show_moderators (
    show_id BLOB NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (show_id, user_id)
);

-- Chat of a room (`show:<id>` or `auction:<id>`), written in batches.
CREATE TABLE chat_messages (
    id           BLOB PRIMARY KEY NOT NULL,
    room         TEXT NOT NULL,
    user_id      BLOB NOT NULL,
    display_name TEXT NOT NULL,
    text         TEXT NOT NULL,
    sent_at      TEXT NOT NULL,
    deleted_at   TEXT
);
CREATE INDEX chat_messages_room_idx ON chat_messages (room, id);

-- Mutes and bans of a room.
CREATE TABLE chat_restrictions (
    room       TEXT NOT NULL,
    user_id    BLOB NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('mute', 'ban')),
    created_by BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (room, user_id, kind)
);

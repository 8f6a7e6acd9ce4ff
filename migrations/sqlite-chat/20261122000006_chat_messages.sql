-- Chat history of every room (`show:<id>` or `auction:<id>`), written in
-- batches. On SQLite it lives in a file of its own (`<name>-chat.db`) so that
-- chat writes never hold the main file's write lock; see `Db::chat_history`.
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

-- Chat history moved to a SQLite file of its own (`<name>-chat.db`, see
-- `migrations/sqlite-chat`), so that its batch writes never hold this file's
-- write lock while a bid commits. Only the message history moved: mutes,
-- bans and slow mode stay here. Earlier history in this table is not carried
-- over (no release had it).
DROP TABLE chat_messages;

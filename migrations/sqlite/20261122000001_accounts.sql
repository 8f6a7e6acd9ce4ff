-- Accounts and refresh tokens. Ids are 16-byte UUID blobs; times are RFC 3339 text.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    avatar_url    TEXT,
    role          TEXT NOT NULL CHECK (role IN ('buyer', 'seller', 'admin')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- A refresh token is stored only as its SHA-256 hash. Every token belongs to a
-- family (one login); rotating marks the old token used and adds a new one to
-- the family; presenting a used token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   BLOB NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- The audience: buyers follow sellers and bookmark shows.

-- A follower of a seller (following is idempotent: one row per pair).
CREATE TABLE follows (
    follower_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seller_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (follower_id, seller_id),
    CHECK (follower_id <> seller_id)
);
-- A seller's followers (counts, and who to tell when the seller goes live).
CREATE INDEX follows_seller_idx ON follows (seller_id, follower_id);
-- A user's follows, newest first.
CREATE INDEX follows_follower_time_idx ON follows (follower_id, created_at, seller_id);

-- A show a user bookmarked.
CREATE TABLE show_bookmarks (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    show_id    UUID NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, show_id)
);
CREATE INDEX show_bookmarks_show_idx ON show_bookmarks (show_id);
CREATE INDEX show_bookmarks_user_time_idx ON show_bookmarks (user_id, created_at, show_id);

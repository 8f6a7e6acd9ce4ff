-- The catalog: a category tree and the products sellers list.
-- Ids are 16-byte UUID blobs; times are RFC 3339 text; JSON is text.
--
-- Money is INTEGER minor units beside an ISO currency code. A deleted product
-- keeps its row (`deleted_at` set). `version` grows by one on every change:
-- updates compare it to refuse a write based on a stale read.

CREATE TABLE categories (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    parent_id  BLOB REFERENCES categories (id),
    sort_order INTEGER NOT NULL DEFAULT 0,
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX categories_parent_idx ON categories (parent_id);

-- `pk` is a stable integer rowid for the full-text index (a plain rowid may
-- change on VACUUM); everything else uses `id`.
CREATE TABLE products (
    pk            INTEGER PRIMARY KEY,
    id            BLOB NOT NULL UNIQUE,
    seller_id     BLOB NOT NULL REFERENCES users (id),
    category_id   BLOB REFERENCES categories (id) ON DELETE SET NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    condition     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    start_price   INTEGER NOT NULL,
    reserve_price INTEGER,
    buy_now_price INTEGER,
    images        TEXT NOT NULL DEFAULT '[]',
    video_url     TEXT,
    specifications TEXT NOT NULL DEFAULT '{}',
    shipping_info TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL CHECK (status IN ('draft', 'active', 'sold', 'cancelled')),
    featured      BOOLEAN NOT NULL DEFAULT FALSE,
    view_count    INTEGER NOT NULL DEFAULT 0,
    version       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);
-- One index per list filter; each ends with `id`, the tie-breaker of every cursor.
CREATE INDEX products_status_idx ON products (status, id) WHERE deleted_at IS NULL;
CREATE INDEX products_status_price_idx ON products (status, start_price, id) WHERE deleted_at IS NULL;
CREATE INDEX products_seller_idx ON products (seller_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_idx ON products (category_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_condition_idx ON products (condition, id) WHERE deleted_at IS NULL;
CREATE INDEX products_featured_idx ON products (featured, id) WHERE deleted_at IS NULL;

-- Full-text index over title and description (external content: the text
-- lives in `products`), kept in sync by the triggers below.
CREATE VIRTUAL TABLE products_fts USING fts5(
    title, description,
    content = 'products', content_rowid = 'pk',
    tokenize = 'porter unicode61'
);

CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, title, description)
    VALUES (new.pk, new.title, new.description);
END;

CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, description)
    VALUES ('delete', old.pk, old.title, old.description);
END;

CREATE TRIGGER products_fts_update AFTER UPDATE OF title, description ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, description)
    VALUES ('delete', old.pk, old.title, old.description);
    INSERT INTO products_fts (rowid, title, description)
    VALUES (new.pk, new.title, new.description);
END;

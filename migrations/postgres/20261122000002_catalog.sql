-- The catalog: a category tree and the products sellers list.
--
-- Money is BIGINT minor units beside an ISO currency code. `images`,
-- `specifications` and `shipping_info` are JSON. A deleted product keeps its
-- row (`deleted_at` set) so orders and auctions can still refer to it.
-- `version` grows by one on every change: updates compare it to refuse a
-- write based on a stale read. `search` is the full-text vector: the title
-- weighs A, the description B.

CREATE TABLE categories (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    parent_id  UUID REFERENCES categories (id),
    sort_order INTEGER NOT NULL DEFAULT 0,
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE products (
    id            UUID PRIMARY KEY,
    seller_id     UUID NOT NULL REFERENCES users (id),
    category_id   UUID REFERENCES categories (id) ON DELETE SET NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    condition     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    start_price   BIGINT NOT NULL,
    reserve_price BIGINT,
    buy_now_price BIGINT,
    images        JSONB NOT NULL DEFAULT '[]',
    video_url     TEXT,
    specifications JSONB NOT NULL DEFAULT '{}',
    shipping_info JSONB NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL CHECK (status IN ('draft', 'active', 'sold', 'cancelled')),
    featured      BOOLEAN NOT NULL DEFAULT FALSE,
    view_count    BIGINT NOT NULL DEFAULT 0,
    version       BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    deleted_at    TIMESTAMPTZ,
    search        TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', description), 'B')
    ) STORED
);
-- One index per list filter; each ends with `id`, the tie-breaker of every cursor.
CREATE INDEX products_status_idx ON products (status, id) WHERE deleted_at IS NULL;
CREATE INDEX products_status_price_idx ON products (status, start_price, id) WHERE deleted_at IS NULL;
CREATE INDEX products_seller_idx ON products (seller_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_idx ON products (category_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_condition_idx ON products (condition, id) WHERE deleted_at IS NULL;
CREATE INDEX products_featured_idx ON products (featured, id) WHERE deleted_at IS NULL;
CREATE INDEX products_search_idx ON products USING GIN (search);

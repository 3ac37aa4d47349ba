-- The product catalog. Prices are integer cents; version counts updates
-- and lets the Redis cache refuse to overwrite a newer entry with an
-- older one.
CREATE TABLE products.products (
    id              text PRIMARY KEY CHECK (id <> ''),
    display_name    text NOT NULL CHECK (display_name <> ''),
    brand           text NOT NULL,
    master_category text NOT NULL,
    sub_category    text NOT NULL,
    article_type    text NOT NULL,
    gender          text NOT NULL,
    age_group       text NOT NULL,
    variant_name    text NOT NULL,
    description     text NOT NULL,
    price_cents     bigint NOT NULL CHECK (price_cents > 0),
    currency        text NOT NULL DEFAULT 'USD' CHECK (currency = 'USD'),
    active          boolean NOT NULL DEFAULT true,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Category filter: master category alone or with the sub category.
CREATE INDEX products_category_idx
    ON products.products (lower(master_category), lower(sub_category))
    WHERE active;

-- Case-insensitive substring search on the display name uses a trigram
-- index. An extension exists once per database, and in dev several
-- services may share one database, so pg_trgm is created only when no
-- schema has it yet (in ours), and the index names the operator class in
-- whichever schema holds it. The advisory lock keeps two services that
-- migrate the same database at once from racing on CREATE EXTENSION.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('streamcart:extension:pg_trgm'));
    SELECT n.nspname INTO trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NULL THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA products;
        trgm_schema := 'products';
    END IF;
    EXECUTE format(
        'CREATE INDEX products_name_trgm_idx ON products.products USING gin (lower(display_name) %I.gin_trgm_ops) WHERE active',
        trgm_schema);
END
$$;

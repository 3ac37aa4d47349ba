-- The orders service's copy of the catalog's prices, fed by the
-- ProductChanged events of PRODUCTS_STREAM and by a snapshot of the
-- catalog at each start (decision 28 of docs/decisions.md): creating an
-- order reads its prices here, not from the products service. version is
-- the product's version in the catalog; a row is only ever replaced by a
-- newer version, so events read late, twice or after a newer snapshot
-- change nothing. changed_at is when products made the change, copied_at
-- when the copy took it: each process of orders keeps the copy in memory
-- too, and reads the rows copied since its last look (the index).
CREATE TABLE orders.catalog_prices (
    product_id   text        PRIMARY KEY,
    display_name text        NOT NULL,
    price_cents  bigint      NOT NULL CHECK (price_cents > 0),
    active       boolean     NOT NULL,
    version      bigint      NOT NULL CHECK (version > 0),
    changed_at   timestamptz NOT NULL,
    copied_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX catalog_prices_copied_at_idx ON orders.catalog_prices (copied_at);

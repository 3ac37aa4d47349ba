CREATE TABLE orders.orders (
    order_id        text        PRIMARY KEY,
    user_id         text        NOT NULL,
    status          smallint    NOT NULL,
    amount_cents    bigint      NOT NULL CHECK (amount_cents > 0),
    currency        text        NOT NULL DEFAULT 'USD',
    payment_id      text,
    -- A retried create with the same key returns the first order.
    idempotency_key text,
    request_hash    text,
    user_agent      text        NOT NULL DEFAULT '',
    ip              text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL,
    updated_by      text        NOT NULL,
    -- When OrderPlaced last went into the outbox; the reconciler publishes
    -- it again for orders that stay non-final too long after.
    published_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);

CREATE INDEX orders_by_user ON orders.orders (user_id, created_at DESC, order_id DESC);
CREATE INDEX orders_not_final ON orders.orders (published_at) WHERE status NOT IN (4, -4);

CREATE TABLE orders.order_items (
    order_id     text     NOT NULL REFERENCES orders.orders ON DELETE CASCADE,
    line         smallint NOT NULL,
    product_id   text     NOT NULL,
    display_name text     NOT NULL,
    qty          int      NOT NULL CHECK (qty BETWEEN 1 AND 99),
    price_cents  bigint   NOT NULL CHECK (price_cents > 0),
    PRIMARY KEY (order_id, line)
);

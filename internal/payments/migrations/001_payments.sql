-- One row per order: the UNIQUE constraint on order_id is what makes a
-- second OrderPlaced for the same order (a redelivery under a new event id)
-- unable to charge twice.
CREATE TABLE payments.payments (
    payment_id   text        PRIMARY KEY,
    order_id     text        NOT NULL UNIQUE,
    user_id      text        NOT NULL,
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    status       smallint    NOT NULL CHECK (status IN (4, -4)),
    reason       text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- When the outbox relay last sent an order's OrderPlaced to the orders
-- stream (outbox.Config.Published), until the order is final; no row until
-- it first did, nor for orders placed before this table existed. The
-- operations page shows it in the order's journey. A narrow table of its
-- own, not a column of orders: the relay inserts a batch's rows here for
-- a fraction of what updating as many orders rows (and their indexes)
-- costs.
CREATE TABLE orders.relayed (
    order_id   text        PRIMARY KEY,
    relayed_at timestamptz NOT NULL
);

-- When the outbox relay last sent the order's OrderPlaced to the orders
-- stream (outbox.Config.Relayed), until the order is final; NULL until
-- it first did, and for orders placed before this column existed. The
-- operations page shows it in the order's journey.
ALTER TABLE orders.orders ADD COLUMN relayed_at timestamptz;

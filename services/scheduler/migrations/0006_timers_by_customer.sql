-- Timers are fired in (due_at, partition_key, kind, key) order: a customer's timers of one instant come together,
-- so its term ends group into one event; each customer's timers are still in due order.
DROP INDEX timers_bucket_due;
CREATE INDEX timers_bucket_due ON timers (bucket, due_at, partition_key, kind, key);

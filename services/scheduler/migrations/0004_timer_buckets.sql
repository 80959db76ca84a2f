-- Customers are spread over buckets; one instance fires a bucket at a time, so instances work in parallel on
-- different customers while each customer's events stay in order.
ALTER TABLE timers ADD COLUMN bucket smallint NOT NULL DEFAULT 0;
CREATE INDEX timers_bucket_due ON timers (bucket, due_at, kind, key);

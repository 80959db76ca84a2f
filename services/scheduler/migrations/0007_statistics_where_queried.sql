-- Statistics only on the columns queries select by (kind, key, bucket, due time, partition key): a timer's rendered
-- event (headers, payload), its id and its update time are only carried. Timers grow under a steady load and are
-- analyzed about once a minute (45,000 timers: ANALYZE 280–350 ms of CPU, 80–160 ms without them; bench/HISTORY.md).
ALTER TABLE timers
    ALTER COLUMN event_id SET STATISTICS 0,
    ALTER COLUMN headers SET STATISTICS 0,
    ALTER COLUMN payload SET STATISTICS 0,
    ALTER COLUMN updated_at SET STATISTICS 0;

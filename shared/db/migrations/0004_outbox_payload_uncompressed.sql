-- An outbox row lives until the relay has published it, so compressing its payload only costs CPU twice (pglz on
-- write, again on read) for bytes Kafka gets uncompressed anyway: a price-list import writes events of ~100 KB.
ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTERNAL;

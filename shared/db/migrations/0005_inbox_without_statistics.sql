-- The inbox is only ever looked up by message id, through its primary key: column statistics serve no query. It
-- grows by a row for every message, so autovacuum analyzed it about once a minute in every service under a steady
-- load (10–30 ms of CPU each at 15,000–32,000 rows, nothing without statistics; bench/HISTORY.md).
ALTER TABLE inbox
    ALTER COLUMN message_id SET STATISTICS 0,
    ALTER COLUMN type SET STATISTICS 0,
    ALTER COLUMN received_at SET STATISTICS 0;

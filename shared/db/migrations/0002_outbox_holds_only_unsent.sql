-- The relay deletes the rows it has published: the outbox holds only what is still to send, so it needs no index but
-- its key, a write costs one index entry less, and nothing is scanned past rows already sent.
DELETE FROM outbox WHERE sent_at IS NOT NULL;
DROP INDEX outbox_unsent;
ALTER TABLE outbox DROP COLUMN sent_at;

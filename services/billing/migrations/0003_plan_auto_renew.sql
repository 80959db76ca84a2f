-- Whether the subscription renews at its term end, for the invoice preview.
ALTER TABLE plans ADD COLUMN auto_renew boolean NOT NULL DEFAULT true;

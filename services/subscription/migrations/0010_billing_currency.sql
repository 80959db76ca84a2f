-- The partner's invoice currency beside the price's currency: they differ when the customer's market has no price
-- in the partner's currency and billing converts at the charge date's FX rate (§2.1).
ALTER TABLE subscriptions ADD COLUMN billing_currency text;
UPDATE subscriptions SET billing_currency = currency;
ALTER TABLE subscriptions ALTER COLUMN billing_currency SET NOT NULL;

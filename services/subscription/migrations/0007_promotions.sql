ALTER TABLE subscriptions ADD COLUMN effective_unit_price numeric(30, 12);
UPDATE subscriptions SET effective_unit_price = unit_price;
ALTER TABLE subscriptions ALTER COLUMN effective_unit_price SET NOT NULL;

-- The copy of pricing's promotions.
CREATE TABLE promotions (
    promotion_id text PRIMARY KEY,
    promotion    jsonb NOT NULL
);

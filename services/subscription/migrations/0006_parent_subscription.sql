ALTER TABLE subscriptions ADD COLUMN parent_subscription_id text REFERENCES subscriptions;

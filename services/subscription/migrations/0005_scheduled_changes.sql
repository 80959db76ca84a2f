ALTER TABLE subscriptions ADD COLUMN scheduled_change jsonb;
ALTER TABLE offers ADD COLUMN upgrade_targets text[] NOT NULL DEFAULT '{}';

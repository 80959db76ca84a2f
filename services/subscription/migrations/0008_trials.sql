-- The trial offer a subscription started as (kept after conversion, so one trial per customer and offer holds).
ALTER TABLE subscriptions ADD COLUMN trial_of text;

-- Seats added outside the window of the promotion a subscription holds are charged the unit price without it
-- (§2.5): each seat batch says whether its seats are such, and the subscription keeps their sum.
ALTER TABLE seat_batches ADD COLUMN full_price boolean NOT NULL DEFAULT false;
ALTER TABLE subscriptions ADD COLUMN full_price_seats int NOT NULL DEFAULT 0;

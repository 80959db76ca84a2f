-- Of a plan's seats, those charged the unit price without its promotion (§2.5: added outside the promotion's window).
ALTER TABLE plans ADD COLUMN full_price_seats int NOT NULL DEFAULT 0;

-- The day a plan's offer and price took effect: its term's start, or the day of a full upgrade. The scheduler charges
-- the cycles that start after it (`cycleCharge`); the cycle holding it was charged by the purchase, renewal or upgrade.
ALTER TABLE plans ADD COLUMN since date;
UPDATE plans SET since = term_start;
ALTER TABLE plans ALTER COLUMN since SET NOT NULL;

-- The customer segment each offer is sold to (§1.1: an availability is per segment; §1.7): a purchase needs the
-- customer's. Offers copied before this migration were all published as commercial, the catalog's default.
ALTER TABLE offers ADD COLUMN customer_segment text NOT NULL DEFAULT 'commercial';

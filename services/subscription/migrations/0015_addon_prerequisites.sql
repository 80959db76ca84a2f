-- An add-on's prerequisites (§1.3, §9.1): the PRODUCT:SKU pairs of which the customer must hold an active
-- subscription to buy it; empty for an offer that is not an add-on. A copy stored before this column learns its
-- prerequisites when the catalog publishes the offer again (`nce catalog import` publishes every offer, changed or not).
ALTER TABLE offers ADD COLUMN addon_prerequisites text[] NOT NULL DEFAULT '{}';

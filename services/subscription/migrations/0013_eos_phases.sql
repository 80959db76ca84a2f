-- A scope holds one End-of-Sale rule (EndOfSale, EndOfSaleWithConversions or Active again) and one EndOfLife rule:
-- EndOfLife announced for a scope at End of Sale follows it from its own date instead of replacing it (§5.1).
ALTER TABLE eos_rules
    ADD COLUMN phase text NOT NULL GENERATED ALWAYS AS (CASE WHEN state = 'EndOfLife' THEN 'life' ELSE 'sale' END) STORED;
ALTER TABLE eos_rules DROP CONSTRAINT eos_rules_pkey,
    ADD PRIMARY KEY (product_id, sku_id, market, term_duration, billing_cycle, phase);

ALTER TABLE offers ADD COLUMN legacy boolean NOT NULL DEFAULT false;

-- The copy of the catalog's End-of-Sale rules ('' = any), evaluated at each command's stamped time.
CREATE TABLE eos_rules (
    product_id     text NOT NULL,
    sku_id         text NOT NULL DEFAULT '',
    market         text NOT NULL DEFAULT '',
    term_duration  text NOT NULL DEFAULT '',
    billing_cycle  text NOT NULL DEFAULT '',
    state          text NOT NULL,
    effective_date date NOT NULL,
    PRIMARY KEY (product_id, sku_id, market, term_duration, billing_cycle)
);

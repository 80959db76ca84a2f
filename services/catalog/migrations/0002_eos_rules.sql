-- End-of-Sale rules per scope; '' in a scope column means "any".
CREATE TABLE eos_rules (
    product_id     text NOT NULL,
    sku_id         text NOT NULL DEFAULT '',
    market         text NOT NULL DEFAULT '',
    term_duration  text NOT NULL DEFAULT '',
    billing_cycle  text NOT NULL DEFAULT '',
    state          text NOT NULL,
    effective_date date NOT NULL,
    source         text NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (product_id, sku_id, market, term_duration, billing_cycle)
);

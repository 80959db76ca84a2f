CREATE TABLE prices (
    catalog_item_id text NOT NULL,
    market          text NOT NULL,
    currency        text NOT NULL,
    term_duration   text NOT NULL,
    billing_cycle   text NOT NULL,
    effective_start date NOT NULL,
    effective_end   date NOT NULL,
    unit_price      numeric(24, 6) NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (catalog_item_id, market, currency, term_duration, billing_cycle, effective_start)
);

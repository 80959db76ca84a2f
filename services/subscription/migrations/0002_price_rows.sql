-- The copy of pricing's rows now follows its price-list key (product, SKU, tier; not availability).
DROP TABLE prices;

CREATE TABLE price_rows (
    product_id      text NOT NULL,
    sku_id          text NOT NULL,
    market          text NOT NULL,
    currency        text NOT NULL,
    term_duration   text NOT NULL,
    billing_cycle   text NOT NULL,
    tier_min        int NOT NULL,
    tier_max        int NOT NULL,
    effective_start date NOT NULL,
    effective_end   date NOT NULL,
    unit_price      numeric(24, 6) NOT NULL,
    PRIMARY KEY (product_id, sku_id, market, currency, term_duration, billing_cycle, tier_min, effective_start)
);

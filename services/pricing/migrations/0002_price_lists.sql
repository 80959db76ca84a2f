-- Price lists as imported: rows are never deleted, so renewals of End-of-Sale offers keep their history (§9.5).
DROP TABLE prices;

CREATE TABLE price_rows (
    product_id       text NOT NULL,
    sku_id           text NOT NULL,
    market           text NOT NULL,
    currency         text NOT NULL,
    term_duration    text NOT NULL,
    billing_cycle    text NOT NULL,
    tier_min         int NOT NULL,
    tier_max         int NOT NULL,
    effective_start  date NOT NULL,
    effective_end    date NOT NULL,
    unit_price       numeric(24, 6) NOT NULL,
    erp_price        numeric(24, 6),
    tags             text[] NOT NULL,
    end_of_sale_date date,
    segment          text NOT NULL,
    product_title    text NOT NULL,
    sku_title        text NOT NULL,
    PRIMARY KEY (product_id, sku_id, market, currency, term_duration, billing_cycle, tier_min, effective_start)
);

CREATE TABLE imports (
    id          bigserial PRIMARY KEY,
    market      text NOT NULL,
    sha256      text NOT NULL,
    rows        int NOT NULL,
    changed     int NOT NULL,
    invalid     int NOT NULL,
    imported_at timestamptz NOT NULL
);

CREATE TABLE promotions (
    promotion_id text PRIMARY KEY,
    promotion    jsonb NOT NULL
);

-- Redemptions seen on subscription.created, for per-customer redemption limits in quotes.
CREATE TABLE redemptions (
    subscription_id text PRIMARY KEY,
    promotion_id    text NOT NULL,
    customer_id     text NOT NULL,
    quantity        int NOT NULL
);
CREATE INDEX redemptions_customer ON redemptions (customer_id, promotion_id);

CREATE TABLE fx_rates (
    month         date NOT NULL,
    from_currency text NOT NULL,
    to_currency   text NOT NULL,
    rate          numeric(20, 10) NOT NULL,
    PRIMARY KEY (month, from_currency, to_currency)
);

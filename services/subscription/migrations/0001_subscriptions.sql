CREATE TABLE partners (
    partner_id       text PRIMARY KEY,
    name             text NOT NULL,
    billing_currency text NOT NULL,
    country          text NOT NULL
);

CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    partner_id  text NOT NULL REFERENCES partners,
    name        text NOT NULL,
    country     text NOT NULL,
    segment     text NOT NULL
);

-- Local copies of what catalog and pricing publish.
CREATE TABLE offers (
    catalog_item_id text PRIMARY KEY,
    markets         text[] NOT NULL,
    plans           jsonb NOT NULL,
    min_quantity    int NOT NULL,
    max_quantity    int NOT NULL
);

CREATE TABLE prices (
    catalog_item_id text NOT NULL,
    market          text NOT NULL,
    currency        text NOT NULL,
    term_duration   text NOT NULL,
    billing_cycle   text NOT NULL,
    effective_start date NOT NULL,
    effective_end   date NOT NULL,
    unit_price      numeric(24, 6) NOT NULL,
    PRIMARY KEY (catalog_item_id, market, currency, term_duration, billing_cycle, effective_start)
);

CREATE TABLE subscriptions (
    subscription_id            text PRIMARY KEY,
    partner_id                 text NOT NULL,
    customer_id                text NOT NULL REFERENCES customers,
    catalog_item_id            text NOT NULL,
    term_duration              text NOT NULL,
    billing_cycle              text NOT NULL,
    quantity                   int NOT NULL,
    auto_renew                 boolean NOT NULL,
    status                     text NOT NULL,
    term_start                 date NOT NULL,
    term_end                   date NOT NULL,
    cancellation_allowed_until timestamptz NOT NULL,
    unit_price                 numeric(24, 6) NOT NULL,
    currency                   text NOT NULL,
    market                     text NOT NULL,
    promotion_id               text,
    created_at                 timestamptz NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

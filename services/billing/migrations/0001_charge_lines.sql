CREATE TABLE charge_lines (
    line_id              text PRIMARY KEY,
    subscription_id      text NOT NULL,
    customer_id          text NOT NULL,
    partner_id           text NOT NULL,
    charge_type          text NOT NULL,
    charge_start         date NOT NULL,
    charge_end           date NOT NULL,
    quantity             int NOT NULL,
    unit_price           numeric(24, 6) NOT NULL,
    effective_unit_price numeric(30, 12) NOT NULL,
    amount               numeric(24, 2) NOT NULL,
    currency             text NOT NULL,
    pricing_currency     text NOT NULL,
    fx_rate              numeric(18, 8) NOT NULL,
    promotion_id         text,
    reference_id         text NOT NULL,
    order_date           date NOT NULL,
    created_at           timestamptz NOT NULL
);
CREATE INDEX charge_lines_subscription ON charge_lines (subscription_id);
CREATE INDEX charge_lines_customer ON charge_lines (customer_id);
CREATE INDEX charge_lines_partner_month ON charge_lines (partner_id, order_date);

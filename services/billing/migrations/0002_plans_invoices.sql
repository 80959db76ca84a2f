-- Billing's view of each subscription's current term: enough to price any day of it (§4.2, §4.3).
CREATE TABLE plans (
    subscription_id      text PRIMARY KEY,
    partner_id           text NOT NULL,
    customer_id          text NOT NULL,
    catalog_item_id      text NOT NULL,
    term_duration        text NOT NULL,
    billing_cycle        text NOT NULL,
    anchor               date NOT NULL,
    term_start           date NOT NULL,
    term_end             date NOT NULL,
    unit_price           numeric(24, 6) NOT NULL,
    effective_unit_price numeric(30, 12) NOT NULL,
    currency             text NOT NULL,
    promotion_id         text,
    quantity             int NOT NULL,
    status               text NOT NULL
);

-- One row per reconciliation line (§4.4); a line belongs to the invoice of `invoice_month`: its order date's month,
-- or the first month still open when that one had already closed (a closed invoice never changes).
DROP TABLE charge_lines;
CREATE TABLE charge_lines (
    line_id              text PRIMARY KEY,
    seq                  bigint GENERATED ALWAYS AS IDENTITY,  -- the order lines were written in
    subscription_id      text NOT NULL,
    customer_id          text NOT NULL,
    partner_id           text NOT NULL,
    catalog_item_id      text NOT NULL,
    charge_type          text NOT NULL,
    charge_start         date NOT NULL,
    charge_end           date NOT NULL,
    term_start           date NOT NULL,
    term_end             date NOT NULL,
    billing_cycle        text NOT NULL,
    quantity             int NOT NULL,
    unit_price           numeric(24, 6) NOT NULL,
    effective_unit_price numeric(30, 12) NOT NULL,
    amount               numeric(24, 2) NOT NULL,
    currency             text NOT NULL,
    pricing_currency     text NOT NULL,
    fx_rate              numeric(20, 10) NOT NULL,
    promotion_id         text,
    reference_id         text NOT NULL,
    order_date           date NOT NULL,
    invoice_month        date NOT NULL,
    created_at           timestamptz NOT NULL
);
CREATE INDEX charge_lines_subscription ON charge_lines (subscription_id, order_date);
CREATE INDEX charge_lines_customer ON charge_lines (customer_id, order_date);
CREATE INDEX charge_lines_invoice ON charge_lines (partner_id, invoice_month);

-- A partner's calendar month once closed: its number and totals never change.
CREATE TABLE invoices (
    partner_id     text NOT NULL,
    month          date NOT NULL,
    invoice_number text NOT NULL UNIQUE,
    totals         jsonb NOT NULL,
    lines          int NOT NULL,
    issued_at      timestamptz NOT NULL,
    PRIMARY KEY (partner_id, month)
);

-- Months closed for every partner (a partner's first line after a close opens the next month).
CREATE TABLE closed_months (
    month     date PRIMARY KEY,
    closed_at timestamptz NOT NULL
);

CREATE TABLE offers (
    catalog_item_id text PRIMARY KEY,
    product_id      text NOT NULL,
    offer           jsonb NOT NULL,
    revision        int NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX offers_product ON offers (product_id);

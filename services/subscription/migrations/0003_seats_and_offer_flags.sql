ALTER TABLE offers ADD COLUMN trial boolean NOT NULL DEFAULT false;
ALTER TABLE offers ADD COLUMN pooled_max_per_customer int;

-- Seats by when they were added: each batch is refundable until its own deadline (purchase, renewal, increase).
CREATE TABLE seat_batches (
    subscription_id  text NOT NULL REFERENCES subscriptions,
    seq              int NOT NULL,
    quantity         int NOT NULL CHECK (quantity > 0),
    refundable_until timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, seq)
);

CREATE TABLE timers (
    kind        text NOT NULL,
    key         text NOT NULL,
    due_at      timestamptz NOT NULL,
    partition_key text NOT NULL,
    payload     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX timers_due ON timers (due_at);

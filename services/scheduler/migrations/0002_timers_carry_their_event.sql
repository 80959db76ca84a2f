-- A timer carries the event it emits when due (type, version, data), so firing needs no business rules.
DROP TABLE timers;
CREATE TABLE timers (
    kind          text NOT NULL,
    key           text NOT NULL,
    due_at        timestamptz NOT NULL,
    partition_key text NOT NULL,
    event_type    text NOT NULL,
    event_version int NOT NULL,
    data          jsonb NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX timers_due ON timers (due_at, kind, key);

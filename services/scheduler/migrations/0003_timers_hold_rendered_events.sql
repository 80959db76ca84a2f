-- A timer holds its event already rendered (envelope with its deterministic id, headers): firing only moves bytes.
DROP TABLE timers;
CREATE TABLE timers (
    kind          text NOT NULL,
    key           text NOT NULL,
    due_at        timestamptz NOT NULL,
    partition_key bytea NOT NULL,
    event_id      uuid NOT NULL,
    headers       jsonb NOT NULL,
    payload       bytea NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX timers_due ON timers (due_at, kind, key);

-- The exactly-once kernel every service schema carries.
CREATE TABLE inbox (
    message_id  uuid PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    key        bytea,
    headers    jsonb NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- What a consumer parked in a dead-letter topic, for operators (the message itself is in <topic>.dlq).
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    partition   int NOT NULL,
    "offset"    bigint NOT NULL,
    reason      text NOT NULL,
    message_id  uuid,
    type        text,
    parked_at   timestamptz NOT NULL DEFAULT now()
);

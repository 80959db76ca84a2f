-- Every command this service refused, written in the same transaction as its `command_rejected` event, for
-- operators (rejections by code, the latest with their reasons).
CREATE TABLE rejections (
    id             bigserial PRIMARY KEY,
    message_id     uuid NOT NULL,
    type           text NOT NULL,
    code           text NOT NULL,
    message        text NOT NULL,
    partner_id     text,
    correlation_id text NOT NULL,
    rejected_at    timestamptz NOT NULL
);
CREATE INDEX rejections_code ON rejections (code);

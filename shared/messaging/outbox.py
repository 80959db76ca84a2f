"""Writing outgoing messages into the outbox, inside the caller's transaction."""
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel

from shared import tracing
from shared.contracts import latest
from shared.contracts.envelope import Actor, Envelope, new_envelope

Row = tuple[str, bytes | None, str, bytes]  # topic, key, headers (JSON), payload
INSERT = "INSERT INTO outbox (topic, key, headers, payload) VALUES ($1, $2, $3::jsonb, $4)"


def storable(text: str) -> str:
    """Text PostgreSQL (text, jsonb) can hold: a NUL, say quoted from a hostile input, becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


def row(topic: str, key: bytes | None, payload: bytes, headers: Sequence[tuple[str, bytes]]) -> Row:
    """An outbox row; it carries the current trace (when tracing) as a header."""
    if trace := tracing.headers():
        names = {k for k, _ in trace}
        headers = [*(h for h in headers if h[0] not in names), *trace]
    return topic, key, json.dumps([[_header(k.encode("utf-8", "replace")), _header(v)] for k, v in headers]), payload


def envelope_row(envelope: Envelope, key: str) -> Row:
    spec = latest(envelope.type)
    return row(spec.topic.name, key.encode(), envelope.to_bytes(), envelope.headers())


def _header(value: bytes) -> str:
    """A header as jsonb can hold it: invalid UTF-8 and NUL (which jsonb refuses) become U+FFFD. Only a hostile
    record's headers (copied to the DLQ) carry either; refusing them would block the partition for good."""
    return storable(value.decode("utf-8", "replace"))


async def enqueue_envelope(conn: asyncpg.Connection, envelope: Envelope, key: str) -> None:
    await conn.execute(INSERT, *envelope_row(envelope, key))


def envelope_for(
    type_: str,
    data: BaseModel | dict[str, Any],
    *,
    occurred_at: datetime,
    source: str,
    cause: Envelope | None = None,
    id: UUID | None = None,
    actor: Actor | None = None,
) -> Envelope:
    """An envelope for the newest version of `type_`, carrying the cause's correlation id.

    `data` is the type's model, or a dict the caller already shaped to it (bulk paths that build JSON in SQL).
    """
    spec = latest(type_)
    if isinstance(data, BaseModel) and not isinstance(data, spec.model):
        raise TypeError(f"{type_} v{spec.version} carries {spec.model.__name__}, not {type(data).__name__}")
    return new_envelope(
        id=id or uuid4(),
        type=type_,
        version=spec.version,
        data=data.model_dump(mode="json") if isinstance(data, BaseModel) else data,
        occurred_at=occurred_at,
        source=source,
        correlation_id=cause.correlation_id if cause else None,
        causation_id=str(cause.id) if cause else None,
        actor=actor,
    )

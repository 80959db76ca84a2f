"""The scheduler's own tables: timers, and firing them into the outbox."""
import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from shared.messaging.outbox import envelope_for

from services.scheduler.domain.timers import event_id


def timer_row(kind: str, key: str, due_at: datetime, partition_key: str, event_type: str, event: BaseModel,
              now: datetime) -> tuple[Any, ...]:
    """A timer as stored: its event rendered now (envelope, deterministic id, headers), emitted as is when due."""
    envelope = envelope_for(event_type, event, occurred_at=due_at, source="scheduler", id=event_id(kind, key, due_at))
    headers = json.dumps([[k, v.decode()] for k, v in envelope.headers()])
    return kind, key, due_at, partition_key.encode(), envelope.id, headers, envelope.to_bytes(), now


async def set_timer(conn: asyncpg.Connection, kind: str, key: str, due_at: datetime, partition_key: str,
                    event: BaseModel, event_type: str, now: datetime) -> None:
    """Create or move the one timer of (kind, key); when due it emits `event` as `event_type`."""
    await conn.execute(
        """INSERT INTO timers (kind, key, due_at, partition_key, event_id, headers, payload, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
           ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, partition_key = EXCLUDED.partition_key,
           event_id = EXCLUDED.event_id, headers = EXCLUDED.headers, payload = EXCLUDED.payload,
           updated_at = EXCLUDED.updated_at""",
        *timer_row(kind, key, due_at, partition_key, event_type, event, now),
    )


async def cancel_timer(conn: asyncpg.Connection, kind: str, key: str) -> None:
    await conn.execute("DELETE FROM timers WHERE kind = $1 AND key = $2", kind, key)


# One statement claims a batch of due timers (SKIP LOCKED), deletes them and moves their rendered events to the
# outbox in due order. The transaction-level advisory lock lets one instance fire at a time: outbox ids then follow
# commit order, and the relay never publishes a customer's later event before an earlier one.
_FIRE = """
WITH due AS (
    SELECT kind, key FROM timers WHERE due_at <= $1 ORDER BY due_at, kind, key LIMIT $2 FOR UPDATE SKIP LOCKED
), fired AS (
    DELETE FROM timers t USING due WHERE t.kind = due.kind AND t.key = due.key
    RETURNING t.due_at, t.kind, t.key, t.partition_key, t.headers, t.payload
)
INSERT INTO outbox (topic, key, headers, payload)
SELECT 'nce.scheduler.events', partition_key, headers, payload FROM fired ORDER BY due_at, kind, key
"""


async def fire_due(pool: asyncpg.Pool, now: datetime, batch: int = 5000) -> int:
    """Emit the events of up to `batch` timers due by `now`; how many fired."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('scheduler:fire'))")
        status = await conn.execute(_FIRE, now, batch)
    return int(status.split()[-1])


async def next_due(pool: asyncpg.Pool, after: datetime) -> datetime | None:
    return await pool.fetchval("SELECT min(due_at) FROM timers WHERE due_at > $1", after)


async def due_count(pool: asyncpg.Pool, now: datetime) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM timers WHERE due_at <= $1", now))


async def timers(pool: asyncpg.Pool, key: str | None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT kind, key, due_at, event_id::text, payload FROM timers WHERE $1::text IS NULL OR key = $1"
        " ORDER BY due_at, kind, key LIMIT 1000",
        key,
    )
    events = [json.loads(r["payload"]) for r in rows]
    return [{"kind": r["kind"], "key": r["key"], "due_at": r["due_at"].isoformat(), "event_id": r["event_id"],
             "event_type": e["type"], "data": e["data"]} for r, e in zip(rows, events, strict=True)]

"""The scheduler's own tables: timers, and firing them into the outbox."""
import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from shared.contracts import latest
from shared.http import row_json


async def set_timer(conn: asyncpg.Connection, kind: str, key: str, due_at: datetime, partition_key: str,
                    event: BaseModel, event_type: str, now: datetime) -> None:
    """Create or move the one timer of (kind, key); when due it emits `event` as `event_type`."""
    await conn.execute(
        """INSERT INTO timers (kind, key, due_at, partition_key, event_type, event_version, data, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
           ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, partition_key = EXCLUDED.partition_key,
           event_type = EXCLUDED.event_type, event_version = EXCLUDED.event_version, data = EXCLUDED.data,
           updated_at = EXCLUDED.updated_at""",
        kind, key, due_at, partition_key, event_type, latest(event_type).version, event.model_dump_json(), now,
    )


async def cancel_timer(conn: asyncpg.Connection, kind: str, key: str) -> None:
    await conn.execute("DELETE FROM timers WHERE kind = $1 AND key = $2", kind, key)


# One statement claims a batch of due timers (SKIP LOCKED), deletes them and writes their events to the outbox in
# due order. Message ids are derived from (kind, key, due instant), so a timer fired twice is one event in effect.
# The transaction-level advisory lock lets one instance fire at a time: outbox ids then follow commit order, and the
# relay never publishes a customer's later event before an earlier one.
_FIRE = """
WITH due AS (
    SELECT kind, key FROM timers WHERE due_at <= $1 ORDER BY due_at, kind, key LIMIT $2 FOR UPDATE SKIP LOCKED
), fired AS (
    DELETE FROM timers t USING due WHERE t.kind = due.kind AND t.key = due.key
    RETURNING t.*, md5(t.kind || ':' || t.key || ':' || extract(epoch FROM t.due_at)::bigint)::uuid AS id,
              to_char(t.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS instant
)
INSERT INTO outbox (topic, key, headers, payload)
SELECT 'nce.scheduler.events', convert_to(partition_key, 'UTF8'),
       jsonb_build_array(jsonb_build_array('id', id::text), jsonb_build_array('type', event_type),
                         jsonb_build_array('version', event_version::text),
                         jsonb_build_array('correlation_id', id::text)),
       convert_to(json_build_object('id', id, 'type', event_type, 'version', event_version, 'occurred_at', instant,
                                    'correlation_id', id, 'causation_id', NULL, 'source', 'scheduler',
                                    'actor', NULL, 'data', data)::text, 'UTF8')
FROM fired ORDER BY due_at, kind, key
"""


async def fire_due(pool: asyncpg.Pool, now: datetime, batch: int = 1000) -> int:
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
        "SELECT kind, key, due_at, partition_key, event_type, data FROM timers WHERE $1::text IS NULL OR key = $1"
        " ORDER BY due_at, kind, key LIMIT 1000",
        key,
    )
    return [{**row_json(r), "data": json.loads(r["data"])} for r in rows]

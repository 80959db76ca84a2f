"""The scheduler's own tables."""
import json
from datetime import datetime
from typing import Any

import asyncpg

from shared.http import row_json


async def set_timer(
    conn: asyncpg.Connection, kind: str, key: str, due_at: datetime, partition_key: str, payload: dict[str, Any],
    now: datetime,
) -> None:
    """Create or move the one timer of (kind, key)."""
    await conn.execute(
        """INSERT INTO timers (kind, key, due_at, partition_key, payload, updated_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6)
           ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, partition_key = EXCLUDED.partition_key,
           payload = EXCLUDED.payload, updated_at = EXCLUDED.updated_at""",
        kind, key, due_at, partition_key, json.dumps(payload), now,
    )


async def timers(pool: asyncpg.Pool, key: str | None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT kind, key, due_at, partition_key, payload FROM timers WHERE $1::text IS NULL OR key = $1"
        " ORDER BY due_at, kind, key LIMIT 1000",
        key,
    )
    return [{**row_json(r), "payload": json.loads(r["payload"])} for r in rows]

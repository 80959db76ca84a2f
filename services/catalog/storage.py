"""The catalog's own tables."""
import json
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts.catalog import Offer


async def upsert_offer(conn: asyncpg.Connection, offer: Offer, now: datetime) -> int:
    return int(
        await conn.fetchval(
            """INSERT INTO offers (catalog_item_id, product_id, offer, updated_at) VALUES ($1, $2, $3::jsonb, $4)
               ON CONFLICT (catalog_item_id) DO UPDATE
               SET offer = EXCLUDED.offer, updated_at = EXCLUDED.updated_at, revision = offers.revision + 1
               RETURNING revision""",
            offer.catalog_item_id,
            offer.product_id,
            offer.model_dump_json(),
            now,
        )
    )


async def offers(pool: asyncpg.Pool, market: str | None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT offer, revision FROM offers WHERE $1::text IS NULL OR offer->'markets' ? $1 ORDER BY catalog_item_id",
        market,
    )
    return [{**json.loads(r["offer"]), "revision": r["revision"]} for r in rows]


async def offer(pool: asyncpg.Pool, catalog_item_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT offer, revision FROM offers WHERE catalog_item_id = $1", catalog_item_id)
    return {**json.loads(row["offer"]), "revision": row["revision"]} if row else None

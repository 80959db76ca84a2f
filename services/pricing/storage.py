"""Pricing's own tables."""
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts.pricing import Price

_COLUMNS = "catalog_item_id, market, currency, term_duration, billing_cycle, effective_start, effective_end, unit_price"


async def upsert_price(conn: asyncpg.Connection, p: Price, now: datetime) -> None:
    await conn.execute(
        f"""INSERT INTO prices ({_COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (catalog_item_id, market, currency, term_duration, billing_cycle, effective_start)
            DO UPDATE SET effective_end = EXCLUDED.effective_end, unit_price = EXCLUDED.unit_price,
                          updated_at = EXCLUDED.updated_at""",
        p.catalog_item_id, p.market, p.currency, p.term_duration, p.billing_cycle, p.effective_start,
        p.effective_end, p.unit_price, now,
    )


async def prices(pool: asyncpg.Pool, catalog_item_id: str, market: str | None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM prices WHERE catalog_item_id = $1 AND ($2::text IS NULL OR market = $2)"
        " ORDER BY market, currency, term_duration, billing_cycle, effective_start",
        catalog_item_id, market,
    )
    return [{**dict(r), "unit_price": str(r["unit_price"]), "effective_start": r["effective_start"].isoformat(),
             "effective_end": r["effective_end"].isoformat()} for r in rows]

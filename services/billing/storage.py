"""Billing's own tables."""
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import asyncpg

from shared.http import row_json

from services.billing.domain.charges import Charge

_FILTERS = ("subscription_id", "customer_id", "partner_id")


async def insert_line(
    conn: asyncpg.Connection, line_id: str, charge: Charge, *, subscription_id: str, customer_id: str,
    partner_id: str, currency: str, promotion_id: str | None, order_date: date, now: datetime,
) -> bool:
    """Store a charge line once; False when it is already there."""
    fields = {
        "line_id": line_id, **asdict(charge), "subscription_id": subscription_id, "customer_id": customer_id,
        "partner_id": partner_id, "currency": currency, "pricing_currency": currency, "promotion_id": promotion_id,
        "reference_id": line_id, "order_date": order_date, "created_at": now,
    }
    marks = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
    return bool(
        await conn.fetchval(
            f"INSERT INTO charge_lines ({', '.join(fields)}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING true",
            *fields.values(),
        )
    )


async def lines(pool: asyncpg.Pool, filters: dict[str, str], month: date | None) -> list[dict[str, Any]]:
    where, args = [], []
    for name in _FILTERS:
        if name in filters:
            args.append(filters[name])
            where.append(f"{name} = ${len(args)}")
    if month is not None:
        args.append(month)
        where.append(f"date_trunc('month', order_date) = ${len(args)}")
    sql = "SELECT * FROM charge_lines" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await pool.fetch(sql + " ORDER BY order_date, created_at, line_id LIMIT 10000", *args)
    return [row_json(r) for r in rows]

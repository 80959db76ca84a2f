"""Pricing's reads and single-row writes (bulk imports live in importer.py and reference_data.py)."""
import json
from datetime import date
from decimal import Decimal

import asyncpg

from shared.contracts.pricing import PriceRow
from shared.rules.prices import Promo, Redeemed, Row, promo_from

# price_rows: the key of a row, and what an import may change in it.
KEY = ("product_id", "sku_id", "market", "currency", "term_duration", "billing_cycle", "tier_min", "effective_start")
VALUES = ("tier_max", "effective_end", "unit_price", "erp_price", "tags", "end_of_sale_date", "segment",
          "product_title", "sku_title")
COLUMNS = (*KEY, *VALUES)


async def upsert_row(conn: asyncpg.Connection, row: PriceRow) -> None:
    values = [getattr(row, c) for c in COLUMNS]
    marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    await conn.execute(
        f"""INSERT INTO price_rows ({", ".join(COLUMNS)}) VALUES ({marks})
            ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in VALUES)}""",
        *values,
    )


async def offer_rows(pool: asyncpg.Pool, product_id: str, sku_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM price_rows WHERE product_id = $1 AND sku_id = $2 ORDER BY {', '.join(KEY)}",
        product_id, sku_id,
    )


def as_row(r: asyncpg.Record) -> Row:
    return Row(r["currency"], r["tier_min"], r["tier_max"], r["effective_start"], r["effective_end"], r["unit_price"])


async def promotions(pool: asyncpg.Pool, product_id: str, sku_id: str, segment: str) -> list[Promo]:
    """The SKU's promotions for customers of `segment` (a promotion naming none is commercial, §1.7)."""
    rows = await pool.fetch(
        """SELECT promotion FROM promotions WHERE promotion->>'product_id' = $1 AND promotion->>'sku_id' = $2
             AND lower(coalesce(promotion->>'segment', 'commercial')) = $3""",
        product_id, sku_id, segment,
    )
    return [promo_from(json.loads(r["promotion"])) for r in rows]


async def redeemed(pool: asyncpg.Pool, customer_id: str | None) -> dict[str, Redeemed]:
    """The customer's use of each promotion: its subscriptions that took it, and their seats then."""
    if not customer_id:
        return {}
    rows = await pool.fetch(
        """SELECT promotion_id, count(*) AS n, sum(quantity) AS seats FROM redemptions WHERE customer_id = $1
           GROUP BY promotion_id""", customer_id)
    return {r["promotion_id"]: Redeemed(r["n"], r["seats"]) for r in rows}


async def record_redemption(conn: asyncpg.Connection, subscription_id: str, promotion_id: str, customer_id: str,
                            quantity: int) -> None:
    await conn.execute(
        """INSERT INTO redemptions AS r VALUES ($1, $2, $3, $4) ON CONFLICT (subscription_id, promotion_id)
           DO UPDATE SET quantity = greatest(r.quantity, EXCLUDED.quantity)""",
        subscription_id, promotion_id, customer_id, quantity,
    )


async def fx_rates(pool: asyncpg.Pool, month: date, to_currency: str) -> dict[str, Decimal]:
    """Rates into `to_currency` for `month`: each pair's rate of that month, else its latest earlier one."""
    rows = await pool.fetch(
        """SELECT DISTINCT ON (from_currency) from_currency, rate FROM fx_rates
           WHERE month <= $1 AND to_currency = $2 ORDER BY from_currency, month DESC""", month, to_currency
    )
    return {r["from_currency"]: r["rate"] for r in rows}

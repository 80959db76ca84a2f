"""The catalog's own tables."""
import json
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts.catalog import Offer, SetEos
from shared.rules.eos import EosRule

_SCOPE = ("product_id", "sku_id", "market", "term_duration", "billing_cycle")


async def upsert_offer(conn: asyncpg.Connection, offer: Offer, now: datetime) -> int | None:
    """Store the offer; its new revision, or None when nothing changed."""
    return await conn.fetchval(
        """INSERT INTO offers (catalog_item_id, product_id, offer, updated_at) VALUES ($1, $2, $3::jsonb, $4)
           ON CONFLICT (catalog_item_id) DO UPDATE
           SET offer = EXCLUDED.offer, updated_at = EXCLUDED.updated_at, revision = offers.revision + 1
           WHERE offers.offer IS DISTINCT FROM EXCLUDED.offer
           RETURNING revision""",
        offer.catalog_item_id, offer.product_id, offer.model_dump_json(), now,
    )


async def offer_revision(conn: asyncpg.Connection, catalog_item_id: str) -> int:
    return int(await conn.fetchval("SELECT revision FROM offers WHERE catalog_item_id = $1", catalog_item_id))


async def set_eos(conn: asyncpg.Connection, rule: SetEos, source: str, now: datetime) -> bool:
    """Store a scope's rule for its phase: its End-of-Sale state (EndOfSale, EndOfSaleWithConversions, or Active
    again, which withdraws an EndOfLife announced too) or its EndOfLife. False when nothing changed."""
    scope = [getattr(rule, f) or "" for f in _SCOPE]
    return bool(await conn.fetchval(
        """WITH withdrawn AS (
               DELETE FROM eos_rules WHERE $6 = 'Active' AND phase = 'life'
                   AND (product_id, sku_id, market, term_duration, billing_cycle) = ($1, $2, $3, $4, $5)
               RETURNING true),
           stored AS (
               INSERT INTO eos_rules (product_id, sku_id, market, term_duration, billing_cycle, state,
                                      effective_date, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (product_id, sku_id, market, term_duration, billing_cycle, phase) DO UPDATE
               SET state = EXCLUDED.state, effective_date = EXCLUDED.effective_date, source = EXCLUDED.source,
                   updated_at = EXCLUDED.updated_at
               WHERE (eos_rules.state, eos_rules.effective_date)
                     IS DISTINCT FROM (EXCLUDED.state, EXCLUDED.effective_date)
               RETURNING true)
           SELECT EXISTS (SELECT FROM withdrawn) OR EXISTS (SELECT FROM stored)""",
        *scope, rule.state, rule.effective_date, source, now,
    ))


def _rule(r: asyncpg.Record) -> EosRule:
    return EosRule(r["product_id"], r["sku_id"] or None, r["market"] or None, r["term_duration"] or None,
                   r["billing_cycle"] or None, r["state"], r["effective_date"])


async def eos_rules(pool: asyncpg.Pool, product_ids: list[str] | None = None) -> list[EosRule]:
    rows = await pool.fetch(
        "SELECT * FROM eos_rules WHERE $1::text[] IS NULL OR product_id = ANY($1)", product_ids
    )
    return [_rule(r) for r in rows]


async def offers(pool: asyncpg.Pool, market: str | None = None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT offer, revision FROM offers WHERE $1::text IS NULL OR offer->'markets' ? $1 ORDER BY catalog_item_id",
        market,
    )
    return [{**json.loads(r["offer"]), "revision": r["revision"]} for r in rows]


async def offer(pool: asyncpg.Pool, catalog_item_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT offer, revision FROM offers WHERE catalog_item_id = $1", catalog_item_id)
    return {**json.loads(row["offer"]), "revision": row["revision"]} if row else None

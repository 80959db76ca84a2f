"""What the service keeps of other services' data: offers and End-of-Sale rules (catalog), price rows, promotions
and the FX pairs billing can convert (pricing)."""
import json
from datetime import date

import asyncpg

from shared.contracts.catalog import EosChanged, OfferPublished
from shared.contracts.pricing import PricesPublished, PromotionPublished
from shared.rules.eos import EosRule
from shared.rules.prices import Row

from services.subscription.domain.purchase import Offer


async def upsert_offer(conn: asyncpg.Connection, o: OfferPublished) -> None:
    await conn.execute(
        """INSERT INTO offers (catalog_item_id, markets, plans, min_quantity, max_quantity, trial,
                               pooled_max_per_customer, legacy, upgrade_targets, kind, addon_prerequisites,
                               customer_segment)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (catalog_item_id) DO UPDATE SET markets = EXCLUDED.markets, plans = EXCLUDED.plans,
           min_quantity = EXCLUDED.min_quantity, max_quantity = EXCLUDED.max_quantity, trial = EXCLUDED.trial,
           pooled_max_per_customer = EXCLUDED.pooled_max_per_customer, legacy = EXCLUDED.legacy,
           upgrade_targets = EXCLUDED.upgrade_targets, kind = EXCLUDED.kind,
           addon_prerequisites = EXCLUDED.addon_prerequisites, customer_segment = EXCLUDED.customer_segment""",
        o.catalog_item_id, o.markets, json.dumps([[p.term_duration, p.billing_cycle] for p in o.plans]),
        o.min_quantity, o.max_quantity, o.trial, o.pooled_max_per_customer, o.legacy, o.upgrade_targets, o.kind,
        o.addon_prerequisites, o.segment,
    )


async def upgrade_targets(conn: asyncpg.Connection, catalog_item_id: str) -> list[str]:
    return list(await conn.fetchval("SELECT upgrade_targets FROM offers WHERE catalog_item_id = $1",
                                    catalog_item_id) or [])


async def offer(conn: asyncpg.Connection, catalog_item_id: str) -> Offer | None:
    return offer_from(await conn.fetchrow("SELECT * FROM offers WHERE catalog_item_id = $1", catalog_item_id))


OFFER_COLUMNS = ("markets, plans, min_quantity, max_quantity, trial, pooled_max_per_customer, legacy, kind, "
                 "addon_prerequisites, customer_segment")


def offer_from(row: asyncpg.Record | None) -> Offer | None:
    """The offer in a row holding `catalog_item_id` and OFFER_COLUMNS (None: no row, or a join that found none)."""
    if row is None or row["plans"] is None:
        return None
    plans = frozenset((t, c) for t, c in json.loads(row["plans"]))
    return Offer(row["catalog_item_id"], frozenset(row["markets"]), plans, row["min_quantity"], row["max_quantity"],
                 row["trial"], row["pooled_max_per_customer"], row["legacy"], row["kind"],
                 frozenset(row["addon_prerequisites"]), row["customer_segment"])


async def paid_equivalent(conn: asyncpg.Connection, trial_item: str, market: str) -> str | None:
    """The paid offer a trial converts to: the same product's non-trial SKU sold in the market with P1Y monthly."""
    return await conn.fetchval(
        """SELECT catalog_item_id FROM offers
           WHERE split_part(catalog_item_id, ':', 1) = split_part($1, ':', 1) AND NOT trial AND NOT legacy
             AND $2 = ANY(markets) AND plans @> '[["P1Y", "monthly"]]'::jsonb ORDER BY catalog_item_id LIMIT 1""",
        trial_item, market,
    )


async def upsert_eos_rule(conn: asyncpg.Connection, e: EosChanged) -> None:
    """The scope's rule for its phase, as the catalog keeps it (an Active one withdraws an EndOfLife too)."""
    await conn.execute(
        """WITH withdrawn AS (
               DELETE FROM eos_rules WHERE $6 = 'Active' AND phase = 'life'
                   AND (product_id, sku_id, market, term_duration, billing_cycle) = ($1, $2, $3, $4, $5))
           INSERT INTO eos_rules (product_id, sku_id, market, term_duration, billing_cycle, state, effective_date)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (product_id, sku_id, market, term_duration, billing_cycle, phase)
           DO UPDATE SET state = EXCLUDED.state, effective_date = EXCLUDED.effective_date""",
        e.product_id, e.sku_id or "", e.market or "", e.term_duration or "", e.billing_cycle or "", e.state,
        e.effective_date,
    )


async def eos_rules(conn: asyncpg.Connection, catalog_item_id: str) -> list[EosRule]:
    rows = await conn.fetch(f"SELECT {EOS_COLUMNS} FROM eos_rules WHERE product_id = split_part($1, ':', 1)",
                            catalog_item_id)
    return [eos_rule(*r) for r in rows]


PRICE_COLUMNS = "currency, tier_min, tier_max, effective_start, effective_end, unit_price"  # a Row, in order
EOS_COLUMNS = "product_id, sku_id, market, term_duration, billing_cycle, state, effective_date"


def eos_rule(product_id: str, sku_id: str, market: str, term: str, cycle: str, state: str, on: date) -> EosRule:
    return EosRule(product_id, sku_id or None, market or None, term or None, cycle or None, state, on)


async def upsert_prices(conn: asyncpg.Connection, event: PricesPublished) -> None:
    await conn.executemany(
        """INSERT INTO price_rows (product_id, sku_id, market, currency, term_duration, billing_cycle, tier_min,
                                   tier_max, effective_start, effective_end, unit_price)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (product_id, sku_id, market, currency, term_duration, billing_cycle, tier_min, effective_start)
           DO UPDATE SET tier_max = EXCLUDED.tier_max, effective_end = EXCLUDED.effective_end,
                         unit_price = EXCLUDED.unit_price""",
        [(r.product_id, r.sku_id, r.market, r.currency, r.term_duration, r.billing_cycle, r.tier_min, r.tier_max,
          r.effective_start, r.effective_end, r.unit_price) for r in event.rows],
    )


async def price_rows(
    conn: asyncpg.Connection, catalog_item_id: str, market: str, currency: str | None, term: str, cycle: str
) -> list[Row]:
    """The plan's rows in `market`, in `currency` (None: in every currency the market has)."""
    product_id, sku_id, _ = catalog_item_id.split(":")
    rows = await conn.fetch(
        f"""SELECT {PRICE_COLUMNS} FROM price_rows
           WHERE product_id = $1 AND sku_id = $2 AND market = $3 AND ($4::text IS NULL OR currency = $4)
             AND term_duration = $5 AND billing_cycle = $6""",
        product_id, sku_id, market, currency, term, cycle,
    )
    return [Row(*r) for r in rows]


async def save_fx_pairs(conn: asyncpg.Connection, pairs: list[tuple[str, str, date]]) -> None:
    await conn.executemany(
        """INSERT INTO fx_pairs VALUES ($1, $2, $3) ON CONFLICT (from_currency, to_currency)
           DO UPDATE SET first_month = least(fx_pairs.first_month, EXCLUDED.first_month)""", pairs)


async def upsert_promotion(conn: asyncpg.Connection, p: PromotionPublished) -> None:
    await conn.execute(
        """INSERT INTO promotions VALUES ($1, $2::jsonb)
           ON CONFLICT (promotion_id) DO UPDATE SET promotion = EXCLUDED.promotion""",
        p.promotion_id, p.model_dump_json(),
    )

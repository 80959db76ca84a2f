"""Importing promotions (YAML) and monthly FX rates (CSV); both publish only what changed."""
import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from pydantic import ValidationError

from shared.contracts.pricing import FxRate, FxRatesPublished, Promotion, PromotionPublished
from shared.messaging.outbox import enqueue_envelope, envelope_for

FX_CHUNK = 1000


class ReferenceDataError(ValueError):
    pass


def _validated(model: type[Any], raw: Any, where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ReferenceDataError(f"{where}: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from None


async def import_promotions(pool: asyncpg.Pool, path: Path, now: datetime) -> int:
    """Upsert the file's promotions; returns how many were new or changed (each published)."""
    document = yaml.safe_load(path.read_text()) or {}
    promotions = [_validated(Promotion, p, f"promotion #{i + 1}") for i, p in enumerate(document.get("promotions", []))]
    changed = 0
    async with pool.acquire() as conn, conn.transaction():
        for p in promotions:
            stored = await conn.fetchval(
                """INSERT INTO promotions (promotion_id, promotion) VALUES ($1, $2::jsonb)
                   ON CONFLICT (promotion_id) DO UPDATE SET promotion = EXCLUDED.promotion
                   WHERE promotions.promotion IS DISTINCT FROM EXCLUDED.promotion RETURNING true""",
                p.promotion_id, p.model_dump_json(),
            )
            if stored:
                changed += 1
                event = envelope_for("pricing.promotion_published", PromotionPublished(**p.model_dump()),
                                     occurred_at=now, source="pricing")
                await enqueue_envelope(conn, event, p.promotion_id)
    return changed


async def import_fx_rates(pool: asyncpg.Pool, path: Path, now: datetime) -> int:
    """Upsert monthly rates from `month,from_currency,to_currency,rate`; returns how many changed (published)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rates = [_validated(FxRate, row, f"line {n + 2}") for n, row in enumerate(csv.DictReader(f))]
    changed: list[FxRate] = []
    async with pool.acquire() as conn, conn.transaction():
        for r in rates:
            if await conn.fetchval(
                """INSERT INTO fx_rates (month, from_currency, to_currency, rate) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (month, from_currency, to_currency) DO UPDATE SET rate = EXCLUDED.rate
                   WHERE fx_rates.rate IS DISTINCT FROM EXCLUDED.rate RETURNING true""",
                date.fromisoformat(r.month + "-01"), r.from_currency, r.to_currency, r.rate,
            ):
                changed.append(r)
        for i in range(0, len(changed), FX_CHUNK):
            event = envelope_for("pricing.fx_rates_published", FxRatesPublished(rates=changed[i:i + FX_CHUNK]),
                                 occurred_at=now, source="pricing")
            await enqueue_envelope(conn, event, "fx")
    return len(changed)

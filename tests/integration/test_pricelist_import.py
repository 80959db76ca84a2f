"""Importing Partner Center price lists into a real PostgreSQL: validation, idempotence, events, currencies."""
import csv
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from services.pricing.importer import ImportRefusedError, import_pricelist
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "services" / "sample"
NOW = datetime(2026, 11, 21, tzinfo=UTC)


@pytest.fixture
async def pool(stack) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "pricing")
    yield pool
    await pool.close()


def sample_rows() -> list[list[str]]:
    with open(SAMPLE / "pricelist-US.csv", newline="") as f:
        return list(csv.reader(f))


def write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


PRICE, MARKET = 11, 9


async def events(pool: asyncpg.Pool, type_: str) -> list[dict]:  # type: ignore[type-arg]
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [e for e in (json.loads(r["payload"]) for r in rows) if e["type"] == type_]


async def test_a_price_list_is_stored_and_published_once_and_reimporting_it_changes_nothing(pool) -> None:
    first = await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    assert (first.rows, first.invalid, first.changed, first.stored) == (83, 0, 83, True)
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == 83
    published = await events(pool, "pricing.prices_published")
    assert sum(len(e["data"]["rows"]) for e in published) == 83
    eos = await events(pool, "pricing.eos_date_found")
    assert len(eos) == first.eos_found > 0
    assert {(e["data"]["state"], e["data"]["effective_date"]) for e in eos} == {
        ("EndOfSale", "2027-01-01"), ("EndOfSaleWithConversions", "2026-12-15")}

    again = await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    assert (again.changed, again.eos_found) == (0, 0)
    assert len(await events(pool, "pricing.prices_published")) == len(published)


async def test_a_changed_row_is_updated_and_only_it_is_republished(pool, tmp_path: Path) -> None:
    await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    rows = sample_rows()
    rows[1][PRICE] = "999.99"
    report = await import_pricelist(pool, write(tmp_path / "us.csv", rows), "US", NOW)
    assert report.changed == 1
    last = (await events(pool, "pricing.prices_published"))[-1]
    assert [r["unit_price"] for r in last["data"]["rows"]] == ["999.990000"]


async def test_bad_rows_are_reported_by_line_and_nothing_is_stored(pool, tmp_path: Path) -> None:
    rows = sample_rows()
    header, good = rows[0], rows[1:4]
    bad_price, wrong_market = list(good[0]), list(good[1])
    bad_price[PRICE], wrong_market[MARKET] = "free", "GB"
    path = write(tmp_path / "bad.csv", [header, *good, bad_price, wrong_market, good[2]])
    with pytest.raises(ImportRefusedError) as refused:
        await import_pricelist(pool, path, "US", NOW)
    assert [line for line, _ in refused.value.report.errors] == [5, 6, 7]
    reasons = [reason for _, reason in refused.value.report.errors]
    assert "UnitPrice 'free' is not a number" in reasons[0] and "Market 'GB'" in reasons[1]
    assert "same product" in reasons[2] and "as line 4" in reasons[2]
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0

    kept = await import_pricelist(pool, path, "US", NOW, skip_invalid=True)
    assert (kept.changed, kept.invalid) == (3, 3)


async def test_a_european_file_keeps_all_six_currencies(pool) -> None:
    await import_pricelist(pool, SAMPLE / "pricelist-DE.csv", "DE", NOW)
    currencies = {r["currency"] for r in await pool.fetch("SELECT DISTINCT currency FROM price_rows")}
    assert currencies == {"EUR", "GBP", "SEK", "NOK", "CHF", "DKK"}

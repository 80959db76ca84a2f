"""Importing Partner Center price lists into a real PostgreSQL: validation, idempotence, events, currencies."""
import csv
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
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
    price = last["data"]["columns"].index("unit_price")
    assert [r[price] for r in last["data"]["rows"]] == ["999.990000"]


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


HEADER = ("ProductTitle,ProductId,SkuId,SkuTitle,Publisher,SkuDescription,UnitOfMeasure,TermDuration,BillingPlan,"
          "Market,Currency,UnitPrice,PricingTierRangeMin,PricingTierRangeMax,EffectiveStartDate,EffectiveEndDate,"
          "Tags,ERP Price,EndofSaleDate,Segment")
GOOD = ('Office 365 E1,CFQ7TTC0LF8Q,1,"Office 365 E1, Teams",Microsoft Corporation,,1 License,P1Y,Annual,US,USD,'
        '120.00,1,999999,1/1/2025,12/31/9999,License; EndOfSale,144.00,1/1/2027,Commercial')


def one_row(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "one.csv"
    path.write_text(f"{HEADER}\n{line}\n")
    return path


async def test_a_good_row_is_normalised(pool, tmp_path: Path) -> None:
    report = await import_pricelist(pool, one_row(tmp_path, GOOD), "us", NOW)
    assert (report.rows, report.changed, report.eos_found) == (1, 1, 1)
    r = await pool.fetchrow("SELECT * FROM price_rows")
    assert (r["product_id"], r["sku_id"], r["term_duration"], r["billing_cycle"]) == ("CFQ7TTC0LF8Q", "0001", "P1Y",
                                                                                      "annual")
    assert (r["effective_start"], r["effective_end"], r["unit_price"]) == (date(2025, 1, 1), date(9999, 12, 31),
                                                                           Decimal("120.00"))
    assert (r["tags"], r["end_of_sale_date"], r["sku_title"]) == (["License", "EndOfSale"], date(2027, 1, 1),
                                                                  "Office 365 E1, Teams")
    [eos] = await events(pool, "pricing.eos_date_found")
    assert (eos["data"]["state"], eos["data"]["effective_date"]) == ("EndOfSale", "2027-01-01")


async def test_iso_dates_and_datetimes_are_read_too(pool, tmp_path: Path) -> None:
    line = GOOD.replace("1/1/2025", "2025-01-01T00:00:00.0000000Z").replace("12/31/9999", "9999-12-31 12:00:00 AM")
    await import_pricelist(pool, one_row(tmp_path, line), "US", NOW)
    r = await pool.fetchrow("SELECT effective_start, effective_end FROM price_rows")
    assert (r["effective_start"], r["effective_end"]) == (date(2025, 1, 1), date(9999, 12, 31))


@pytest.mark.parametrize("change, reason", [
    (("CFQ7TTC0LF8Q", "cfq7"), "ProductId 'cfq7' is not 12"),
    ((",1,", ",12345,"), "SkuId '12345' is not 1-4"),
    ((",P1Y,", ",P2Y,"), "TermDuration 'P2Y'"),
    ((",Annual,", ",Weekly,"), "BillingPlan 'weekly'"),
    ((",US,USD,", ",GB,USD,"), "Market 'GB' does not match the file's market US"),
    (("120.00", "12O.00"), "UnitPrice '12O.00' is not a number"),
    (("120.00", "-1"), "UnitPrice '-1' must be between"),
    (("120.00", "NaN"), "UnitPrice 'NaN' must be between"),
    (("120.00", "1.0000001"), "at most 6 decimals"),
    (("1/1/2025", "2/30/2025"), "EffectiveStartDate '2/30/2025' is not a date"),
    (("1/1/2025,", ","), "EffectiveStartDate '' is not a date"),
    (("1/1/2025,12/31/9999", "1/1/2026,1/1/2025"), "EffectiveStartDate 2026-01-01 is after EffectiveEndDate"),
    (("1,999999", "500,10"), "PricingTierRangeMin 500 is above PricingTierRangeMax 10"),
    (("1,999999", "1,99999999999"), "PricingTierRange 1-99999999999 must be whole numbers"),
    ((",Commercial", ",Commercial,extra"), "not a well-formed CSV price list"),
])
async def test_a_bad_row_says_what_is_wrong(pool, tmp_path: Path, change: tuple[str, str], reason: str) -> None:
    with pytest.raises(ImportRefusedError) as refused:
        await import_pricelist(pool, one_row(tmp_path, GOOD.replace(*change, 1)), "US", NOW)
    [(line, said)] = refused.value.report.errors
    assert line == 2 and reason in said, said
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == 0


async def test_a_header_without_the_partner_center_columns_is_refused(pool, tmp_path: Path) -> None:
    path = tmp_path / "bad-header.csv"
    path.write_text(HEADER.replace("UnitPrice,", "Price,") + "\n" + GOOD + "\n")
    with pytest.raises(ImportRefusedError) as refused:
        await import_pricelist(pool, path, "US", NOW)
    assert "the header lacks UnitPrice" in refused.value.report.errors[0][1]


async def test_a_key_repeated_in_a_file_is_refused_whether_new_or_stored(pool, tmp_path: Path) -> None:
    rows = sample_rows()
    header, first, second = rows[0], rows[1], rows[2]
    changed = list(first)
    changed[PRICE] = "1.23"
    path = write(tmp_path / "repeat.csv", [header, first, second, changed])
    for stored_before in (False, True):  # a new key breaks the primary key; a stored one is matched twice
        with pytest.raises(ImportRefusedError) as refused:
            await import_pricelist(pool, path, "US", NOW)
        assert refused.value.report.errors == [
            (4, "same product, SKU, market, currency, term, plan, tier and start as line 2")]
        if not stored_before:
            assert await pool.fetchval("SELECT count(*) FROM price_rows") == 0
            await import_pricelist(pool, write(tmp_path / "first.csv", [header, first]), "US", NOW)
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == 1
    assert await pool.fetchval("SELECT unit_price FROM price_rows") == Decimal(first[PRICE])

    kept = await import_pricelist(pool, path, "US", NOW, skip_invalid=True)
    assert (kept.changed, kept.invalid, kept.errors[0][0]) == (1, 1, 4)
    assert await pool.fetchval("SELECT unit_price FROM price_rows WHERE product_id = $1", first[1]) == \
        Decimal(first[PRICE])

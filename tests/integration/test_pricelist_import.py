"""Importing Partner Center price lists into a real PostgreSQL: validation, idempotence, events, currencies."""
import asyncio
import csv
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from services.pricing import import_staging
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
    ((",P1Y,Annual,", ",P1M,Annual,"), "TermDuration P1M with BillingPlan annual is not a plan"),
    ((",P1Y,Annual,", ",P1Y,Triennial,"), "TermDuration P1Y with BillingPlan triennial is not a plan"),
    ((",P1Y,Annual,", ",P3Y,None,"), "TermDuration P3Y with BillingPlan none is not a plan"),
    ((",P1Y,Annual,", ",P1M,None,"), "BillingPlan None is a trial's, and a trial is free: UnitPrice 120.00 must be 0"),
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


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few rows, so that a small file is staged and merged chunk by chunk as a large one is."""
    monkeypatch.setattr(import_staging, "_BLOCK", 256)
    monkeypatch.setattr(import_staging, "CHUNK_BYTES", 512)


async def staging_tables(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'pricelist\\_staging\\_%'")


async def test_a_file_merged_chunk_by_chunk_is_stored_and_published_as_a_whole(pool, small_chunks) -> None:
    first = await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    assert (first.rows, first.invalid, first.changed, first.stored) == (83, 0, 83, True)
    published = await events(pool, "pricing.prices_published")
    assert len(published) > 1 and sum(len(e["data"]["rows"]) for e in published) == 83
    stored = await pool.fetch("SELECT product_id, sku_id, unit_price::text, tags FROM price_rows")
    columns = published[0]["data"]["columns"]
    sent = {tuple(r[columns.index(c)] for c in ("product_id", "sku_id", "unit_price")) for e in published
            for r in e["data"]["rows"]}
    assert sent == {(r["product_id"], r["sku_id"], r["unit_price"]) for r in stored}
    eos = await events(pool, "pricing.eos_date_found")
    assert len(eos) == first.eos_found and {(e["data"]["state"], e["data"]["effective_date"]) for e in eos} == {
        ("EndOfSale", "2027-01-01"), ("EndOfSaleWithConversions", "2026-12-15")}
    again = await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    assert (again.changed, again.eos_found) == (0, 0)
    assert len(await events(pool, "pricing.prices_published")) == len(published)
    assert await staging_tables(pool) == 0
    digest = hashlib.sha256((SAMPLE / "pricelist-US.csv").read_bytes()).hexdigest()
    assert [r["sha256"] for r in await pool.fetch("SELECT sha256 FROM imports")] == [digest, digest]


async def test_bad_and_repeated_rows_in_later_chunks_are_reported_by_their_line(pool, tmp_path: Path,
                                                                                small_chunks) -> None:
    rows = sample_rows()
    header, body = rows[0], rows[1:]
    bad, repeated = list(body[60]), list(body[2])
    bad[PRICE], repeated[PRICE] = "free", "1.23"
    path = write(tmp_path / "late.csv", [header, *body[:60], bad, *body[61:], repeated])
    with pytest.raises(ImportRefusedError) as refused:
        await import_pricelist(pool, path, "US", NOW)
    assert refused.value.report.errors == [
        (62, "UnitPrice 'free' is not a number"),
        (85, "same product, SKU, market, currency, term, plan, tier and start as line 4")]
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await staging_tables(pool) == 0

    kept = await import_pricelist(pool, path, "US", NOW, skip_invalid=True)
    assert (kept.rows, kept.changed, kept.invalid) == (84, 82, 2)
    assert await pool.fetchval("SELECT unit_price FROM price_rows WHERE product_id = $1 AND sku_id = $2 AND "
                               "term_duration = $3 AND billing_cycle = $4", body[2][1], body[2][2].zfill(4),
                               body[2][7], body[2][8].lower()) == Decimal(body[2][PRICE])
    assert sum(len(e["data"]["rows"]) for e in await events(pool, "pricing.prices_published")) == 82


@pytest.mark.parametrize("stored_before", [False, True])
async def test_a_key_repeated_chunks_apart_is_refused_whether_new_or_stored(pool, tmp_path: Path, small_chunks,
                                                                           stored_before: bool) -> None:
    rows = sample_rows()
    if stored_before:
        await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    before = await pool.fetchval("SELECT count(*) FROM outbox")
    path = write(tmp_path / "again.csv", [*rows, rows[5]])  # the same row again, unchanged, chunks later
    with pytest.raises(ImportRefusedError) as refused:
        await import_pricelist(pool, path, "US", NOW)
    assert refused.value.report.errors == [
        (85, "same product, SKU, market, currency, term, plan, tier and start as line 6")]
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == (83 if stored_before else 0)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == before


async def test_a_line_break_inside_quotes_never_ends_a_chunk(pool, tmp_path: Path, small_chunks) -> None:
    rows = sample_rows()
    for row in rows[1:]:
        row[3] = f"{row[3]}\nsecond line, \"quoted\""
    await import_pricelist(pool, write(tmp_path / "multiline.csv", rows), "US", NOW)
    titles = {r["sku_title"] for r in await pool.fetch("SELECT sku_title FROM price_rows")}
    assert len(titles) > 1 and all(t.endswith('\nsecond line, "quoted"') for t in titles)
    assert await pool.fetchval("SELECT count(*) FROM price_rows") == 83


async def test_staging_tables_left_by_a_crashed_import_are_dropped_by_the_next(pool) -> None:
    await pool.execute("CREATE UNLOGGED TABLE pricelist_staging_0123456789abcdef_0 (n bigint)")
    await import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW)
    assert await staging_tables(pool) == 0


async def test_imports_running_at_once_each_store_their_file_once(pool, small_chunks) -> None:
    us = [import_pricelist(pool, SAMPLE / "pricelist-US.csv", "US", NOW) for _ in range(2)]
    reports = await asyncio.gather(*us, import_pricelist(pool, SAMPLE / "pricelist-DE.csv", "DE", NOW))
    assert sorted(r.changed for r in reports[:2]) == [0, 83] and reports[2].changed > 0
    assert await pool.fetchval("SELECT count(*) FROM price_rows WHERE market = 'US'") == 83
    published = await events(pool, "pricing.prices_published")
    assert sum(len(e["data"]["rows"]) for e in published) == 83 + reports[2].changed
    assert await staging_tables(pool) == 0


async def test_a_set_price_with_an_end_of_sale_date_has_one_outcome_and_the_date_caused_by_it(pool) -> None:  # type: ignore[no-untyped-def]
    """contract.md: every command has exactly one event whose causation_id is its id; the End-of-Sale date found in
    the row follows from the outcome."""
    from services.pricing.app import SERVICE as PRICING
    from shared.clock import SimulatedClock
    from shared.messaging.consumer import Consumer
    from shared.messaging.decode import Record
    from tests.contract.write_samples import path_of
    from tests.kafka import command

    row = {**json.loads(path_of("pricing.set_price", 1).read_text())["data"], "end_of_sale_date": "2027-01-01"}
    sent = command("pricing.set_price", row)
    consumer = Consumer(PRICING.handlers, pool, SimulatedClock(NOW), max_bytes=100_000, max_backoff_s=0.01)
    await consumer.handle(Record("nce.pricing.commands", 0, 0, b"US", sent))
    caused = {e["type"]: e["causation_id"] for e in (json.loads(r["payload"]) for r in await pool.fetch(
        "SELECT payload FROM outbox ORDER BY id"))}
    outcome = caused["pricing.prices_published"]
    assert outcome == json.loads(sent)["id"]
    published = [json.loads(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert caused["pricing.eos_date_found"] == published[0]["id"] != outcome

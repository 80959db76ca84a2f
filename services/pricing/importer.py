"""Importing a Partner Center price list: stage, check, merge, publish what changed — one transaction.

Two connections share the work, so that both cores do. One stages the file chunk by chunk (import_staging.py:
COPY, normalise, check §2.2; each chunk a committed UNLOGGED table of its own). The other holds the import's one
transaction, under a per-market advisory lock, and merges each chunk as soon as it is staged: one statement inserts
the new rows, updates the changed ones and writes them as `pricing.prices_published` events of at most EVENT_ROWS
rows. Only this transaction writes price_rows and the outbox, and it commits once, at the end: an import is all or
nothing, and a refused one stores and publishes nothing. Python holds only the header, a block of the file and the
error report, so memory stays flat whatever the file's size. Re-importing a file changes nothing and publishes
nothing. Line numbers count the header as line 1 (a row with a line break inside a quoted field would shift the
numbers after it; Partner Center files have none).
"""
import asyncio
import contextlib
import csv
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared.contracts import latest
from shared.contracts.envelope import new_envelope
from shared.contracts.pricing import EVENT_COLUMNS
from shared.messaging.outbox import enqueue_envelope, envelope_for

from services.pricing.domain.pricelist import RowError, header_index
from services.pricing.import_staging import MAX_REPORTED, ImportRefusedError, ImportReport, Staging, sweep
from services.pricing.storage import COLUMNS, KEY, VALUES

__all__ = ["EVENT_ROWS", "MAX_REPORTED", "ImportRefusedError", "ImportReport", "import_pricelist"]

EVENT_ROWS = 500
_PLACEHOLDER = UUID(int=0)
_CLEANUP_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def _header(path: Path) -> list[str]:
    """The first line's column names; only that line is decoded here (COPY names the line of a bad byte after it)."""
    with open(path, "rb") as f:
        first = f.readline()
    return next(csv.reader([first.decode("utf-8-sig")]), [])


class _RepeatedKey(Exception):
    """The file repeats a key: what was merged is undone and the repeated rows are looked for and reported."""


def _envelope_template(market: str, now: datetime, correlation_id: str) -> tuple[str, str]:
    """A prices_published envelope and its headers as text, with the id and rows left as placeholders."""
    spec = latest("pricing.prices_published")
    envelope = new_envelope(id=_PLACEHOLDER, type=spec.type, version=spec.version, occurred_at=now, source="pricing",
                            correlation_id=correlation_id,
                            data={"market": market, "columns": list(EVENT_COLUMNS), "rows": "__rows__"})
    headers = json.dumps([[k, v.decode()] for k, v in envelope.headers()])
    return envelope.to_bytes().decode(), headers


def _row_json(row: str) -> str:
    """`row`'s EVENT_COLUMNS as a JSON array, concatenated (a third cheaper than json_build_array), with the text
    between two values as one literal: every value has passed its check, so only Tags can need escaping, the market
    is the file's, rendered in Python ($7), and the price is shown as stored, with its 6 decimals."""
    parts, text = [], "["
    for i, c in enumerate(EVENT_COLUMNS):
        text += "," if i else ""
        quoted = c not in ("market", "tier_min", "tier_max", "tags", "end_of_sale_date")
        text += '"' if quoted else ""
        parts += [f"'{text}'", {
            "market": "$7", "tier_min": f"{row}.{c}::text", "tier_max": f"{row}.{c}::text",
            "tags": f"array_to_json({row}.{c})::text", "unit_price": f"{row}.{c}::numeric(24, 6)",
            "end_of_sale_date": f"""coalesce('"' || {row}.{c} || '"', 'null')"""}.get(c, f"{row}.{c}")]
        text = '"' if quoted else ""
    return " || ".join([*parts, f"'{text}]'"])


def _eos_json(row: str) -> str:
    """What an eos_date_found event needs from `row`, if it has an EndofSaleDate."""
    fields = ", ".join(f"'{c}', {row}.{c}" for c in ("product_id", "sku_id", "term_duration", "billing_cycle",
                                                     "end_of_sale_date"))
    return (f"CASE WHEN {row}.end_of_sale_date IS NOT NULL THEN json_build_object({fields}, 'conversions', "
            f"'EndOfSaleWithConversions' = ANY({row}.tags))::text END")


def _merge_and_publish(table: str, all_new: bool) -> str:
    """One statement for one staged chunk: insert new rows, update changed ones, write them as events.

    Each row is joined with its stored version, unless the market had no stored row when the import began
    (`all_new`): then every row is inserted without a lookup. Both data-modifying parts see the rows as they were
    before the statement, so a row is either inserted or updated. A key the file repeats is caught here rather than
    looked for beforehand: a new one breaks price_rows' primary key (within the chunk or chunks apart), a stored one
    is matched twice (every match is kept in pricelist_matched, checked once all chunks are merged) or, chunks apart,
    finds the version this transaction wrote (`ours`).
    """
    cols = ", ".join(COLUMNS)
    on_key = " AND ".join(f"p.{k} = s.{k}" for k in KEY)
    new = f"{table} s WHERE s.ok AND s.n <> ALL($6::bigint[])" if all_new else "stored s WHERE s.existing IS NULL"
    # At most EVENT_ROWS rows an event: grouped by row number when every row is new (fewer where rows are skipped),
    # else numbered in the order they changed.
    group = f"n / {EVENT_ROWS}" if all_new else f"(row_number() OVER () - 1) / {EVENT_ROWS}"
    return f"""
        WITH stored AS MATERIALIZED (
            SELECT s.*, p.ctid AS existing, p.xmin = pg_current_xact_id()::xid AS ours,
                   ({", ".join(f"p.{c}" for c in VALUES)}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in VALUES)})
                   AS differs
            FROM {table} s LEFT JOIN price_rows p ON {on_key}
            WHERE s.ok AND s.n <> ALL($6::bigint[]) AND NOT {all_new}),
        inserted AS (INSERT INTO price_rows ({cols}) SELECT {cols} FROM {new}),
        updated AS (
            UPDATE price_rows p SET {", ".join(f"{c} = s.{c}" for c in VALUES)} FROM stored s
            WHERE p.ctid = s.existing AND s.differs AND NOT s.ours
            RETURNING s.n, {_row_json("p")} AS row, {_eos_json("p")} AS eos),
        matched AS (
            INSERT INTO pg_temp.pricelist_matched SELECT existing FROM stored WHERE existing IS NOT NULL),
        changed AS (
            SELECT n, {_row_json("s")} AS row, {_eos_json("s")} AS eos FROM {new}
            UNION ALL SELECT n, row, eos FROM updated),
        chunks AS MATERIALIZED (
            SELECT gen_random_uuid()::text AS id, '[' || string_agg(row, ',') || ']' AS rows, count(*) AS rows_in,
                   array_agg(eos) FILTER (WHERE eos IS NOT NULL) AS eos
            FROM (SELECT row, eos, {group} AS g FROM changed) c GROUP BY g),
        published AS (
            INSERT INTO outbox (topic, key, headers, payload)
            SELECT $1, $2::bytea, replace($4, $5, id)::jsonb,
                   convert_to(replace(replace($3, $5, id), '"__rows__"', rows), 'UTF8')
            FROM chunks RETURNING 1)
        SELECT (SELECT count(*) FROM stored WHERE ours) AS repeated,
               (SELECT coalesce(sum(rows_in), 0)::bigint FROM chunks) AS changed,
               (SELECT count(*) FROM published) AS events,
               (SELECT array_agg(DISTINCT e) FROM chunks, unnest(eos) e) AS eos"""


async def _publish_eos(conn: asyncpg.Connection, market: str, now: datetime, found: list[dict[str, Any]],
                       correlation_id: str) -> None:
    for eos in found:
        data = {"product_id": eos["product_id"], "sku_id": eos["sku_id"], "market": market,
                "term_duration": eos["term_duration"], "billing_cycle": eos["billing_cycle"],
                "state": "EndOfSaleWithConversions" if eos["conversions"] else "EndOfSale",
                "effective_date": eos["end_of_sale_date"]}
        event = envelope_for("pricing.eos_date_found", data, occurred_at=now, source="pricing")
        await enqueue_envelope(conn, event.model_copy(update={"correlation_id": correlation_id}), market)


def _sorted(report: ImportReport) -> ImportReport:
    report.errors.sort()
    return report


async def _staged(staging: Staging) -> AsyncIterator[str]:
    """Each chunk's table as soon as it is staged."""
    while (table := await staging.ready.get()) is not None:
        yield table


async def _listed(tables: list[str]) -> AsyncIterator[str]:
    for table in tables:
        yield table


async def _merge(conn: asyncpg.Connection, staging: Staging, task: asyncio.Task[None], now: datetime,
                 tables: AsyncIterator[str], skip: list[int], skip_invalid: bool) -> None:
    """Merge every staged chunk (but the rows in `skip`) and publish it, in the caller's transaction."""
    report, market = staging.report, staging.market
    correlation_id = str(uuid4())
    envelope, headers = _envelope_template(market, now, correlation_id)
    args = (latest("pricing.prices_published").topic.name, market.encode(), envelope, headers, str(_PLACEHOLDER),
            skip, json.dumps(market))
    # A lookup in price_rows' key for each staged row: hashing the whole table for each chunk would cost more.
    await conn.execute("SET LOCAL work_mem = '256MB'; SET LOCAL enable_mergejoin = off; "
                       "SET LOCAL enable_hashjoin = off; SET LOCAL datestyle = 'ISO, MDY'")
    await conn.execute("CREATE TEMP TABLE pricelist_matched (row_version tid) ON COMMIT DROP")
    changed, repeated, found = 0, 0, []
    all_new = not skip and await conn.fetchval("SELECT NOT EXISTS (SELECT FROM price_rows WHERE market = $1)", market)
    async for table in tables:
        if report.invalid and not skip_invalid:
            continue  # refused anyway: the rest is staged only to be reported
        result = await conn.fetchrow(_merge_and_publish(table, all_new), *args)
        changed, repeated = changed + result["changed"], repeated + result["repeated"]
        found += [json.loads(e) for e in result["eos"] or []]
    await task  # every chunk staged and checked (or the file refused as a whole)
    if repeated or await conn.fetchval("SELECT count(*) <> count(DISTINCT row_version) FROM pg_temp.pricelist_matched"):
        raise _RepeatedKey
    if report.invalid and not set(await staging.repeated()) <= set(skip):  # repeats next to invalid rows: reported too
        raise _RepeatedKey
    if report.invalid and not skip_invalid:
        raise ImportRefusedError(_sorted(report))
    _sorted(report)
    report.changed = changed
    distinct = {tuple(sorted(e.items())): e for e in found}.values()
    eos = sorted(distinct, key=lambda e: (e["product_id"], e["sku_id"], e["term_duration"], e["billing_cycle"]))
    await _publish_eos(conn, market, now, eos, correlation_id)
    report.eos_found = len(eos)


async def _import(conn: asyncpg.Connection, staging: Staging, task: asyncio.Task[None], now: datetime,
                  skip_invalid: bool) -> None:
    report, market = staging.report, staging.market
    tables, skip = _staged(staging), []
    while True:
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pricelist import ' || $1))", market)
                await _merge(conn, staging, task, now, tables, skip, skip_invalid)
                await conn.execute(
                    "INSERT INTO imports (market, sha256, rows, changed, invalid, imported_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6)", market, staging.sha256, report.rows, report.changed, report.invalid, now)
            return
        except (asyncpg.UniqueViolationError, _RepeatedKey):
            await task
            repeated = await staging.repeated()
            if not repeated or skip:  # a key some other writer stored meanwhile: not the file's fault
                raise
            if not skip_invalid:
                raise ImportRefusedError(_sorted(report)) from None
            tables, skip = _listed(staging.tables), repeated  # again, from the first chunk, without them


async def _stop(conn: asyncpg.Connection, staging: Staging, task: asyncio.Task[None]) -> None:
    """End the staging and drop its tables, however the import ended."""
    if not task.done():
        task.cancel()
        await asyncio.wait([task])
        staging.conn.terminate()  # cut short mid-COPY: that session cannot be reused (its token lock goes with it)
    elif not task.cancelled():
        task.exception()  # retrieved: the import has raised it already, or one of its own
    with contextlib.suppress(*_CLEANUP_ERRORS):
        if staging.conn.is_closed():
            await sweep(conn)  # what a later import would otherwise drop
        else:
            await staging.close()


async def import_pricelist(
    pool: asyncpg.Pool, path: Path, market: str, now: datetime, *, skip_invalid: bool = False
) -> ImportReport:
    """Import one market's price list. With invalid rows nothing is stored unless `skip_invalid`.

    Takes two connections from `pool` (one stages, one merges) for the whole import.
    """
    if pool.get_max_size() < 2:
        raise ValueError("importing a price list takes two connections: the pool allows fewer")
    market = market.upper()
    report = ImportReport(market)
    try:
        header = _header(path)
        header_index(header)
    except (RowError, UnicodeDecodeError) as e:
        report.problem(1, str(e))
        raise ImportRefusedError(report) from None
    async with pool.acquire() as conn, pool.acquire() as staging_conn:
        staging = Staging(staging_conn, path, header, market, report, uuid4().hex)
        task = asyncio.create_task(staging.run())
        try:
            await _import(conn, staging, task, now, skip_invalid)
        finally:
            await _stop(conn, staging, task)
    report.stored = True
    return report

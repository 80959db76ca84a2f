"""Importing a Partner Center price list: stream, validate, COPY, merge, publish what changed — one transaction.

Memory stays flat: the file is read row by row, rows go to PostgreSQL in COPY batches, and events are built from
the changed rows in chunks. Re-importing a file changes nothing and publishes nothing.
"""
import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from shared.messaging.outbox import enqueue, enqueue_envelope, envelope_for

from services.pricing.domain.pricelist import Row, RowError, header_index, parse_row

KEY = "product_id, sku_id, market, currency, term_duration, billing_cycle, tier_min, effective_start"
VALUES = ("effective_end", "unit_price", "erp_price", "tags", "end_of_sale_date", "segment", "product_title",
          "sku_title")
COLUMNS = Row._fields
NULLABLE = ("erp_price", "end_of_sale_date")
EVENT_ROWS = 500
MAX_REPORTED = 100


@dataclass
class ImportReport:
    market: str
    rows: int = 0
    invalid: int = 0
    changed: int = 0
    eos_found: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    stored: bool = False

    def problem(self, line: int, reason: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append((line, reason))


class ImportRefusedError(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{report.invalid} invalid rows; nothing was stored")
        self.report = report


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _csv_batch(rows: list[tuple[int, Row]]) -> io.BytesIO:
    """Rows as CSV text for COPY: PostgreSQL parses dates and numbers faster than the driver encodes them.

    Strings are quoted, so an empty title stays ''; the nullable columns' empty values load as NULL (FORCE_NULL).
    """
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC)
    tags = COLUMNS.index("tags")
    for line, row in rows:
        writer.writerow((line, *row[:tags], ";".join(row.tags), *row[tags + 1:]))
    return io.BytesIO(text.getvalue().encode())


async def _stage(conn: asyncpg.Connection, path: Path, market: str, report: ImportReport, batch: int) -> None:
    await conn.execute(
        "CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT 0 AS line, * FROM price_rows WITH NO DATA;"
        "ALTER TABLE staging ALTER COLUMN tags TYPE text"
    )
    pending: list[tuple[int, Row]] = []

    async def flush() -> None:
        await conn.copy_to_table("staging", source=_csv_batch(pending), columns=("line", *COLUMNS), format="csv",
                                 force_null=NULLABLE)
        pending.clear()

    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            index = header_index(next(reader, []))
        except RowError as e:
            report.problem(1, str(e))
            return
        for values in reader:
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            report.rows += 1
            try:
                pending.append((reader.line_num, parse_row(values, index, market)))
            except RowError as e:
                report.problem(reader.line_num, str(e))
            if len(pending) >= batch:
                await flush()
    if pending:
        await flush()


async def _duplicates(conn: asyncpg.Connection, report: ImportReport) -> bool:
    """The same key twice in one file is ambiguous: report every later line (the merge keeps the first)."""
    found = await conn.fetch(
        f"""SELECT line, first FROM (
                SELECT line, min(line) OVER (PARTITION BY {KEY}) AS first FROM staging) d
            WHERE line > first ORDER BY line"""
    )
    for r in found:
        report.problem(r["line"], f"same product, SKU, market, currency, term, plan, tier and start as line {r['first']}")
    return bool(found)


async def _merge(conn: asyncpg.Connection, deduplicate: bool) -> int:
    """Upsert staged rows; rows whose content is unchanged are not touched. Returns how many changed."""
    await conn.execute("CREATE TEMP TABLE changed ON COMMIT DROP AS SELECT * FROM price_rows WITH NO DATA")
    select = ", ".join("string_to_array(tags, ';') AS tags" if c == "tags" else c for c in COLUMNS)
    source = (f"SELECT DISTINCT ON ({KEY}) {select} FROM staging ORDER BY {KEY}, line" if deduplicate
              else f"SELECT {select} FROM staging")  # the sort only when the file repeats a key
    status = await conn.execute(
        f"""WITH up AS (
                INSERT INTO price_rows ({", ".join(COLUMNS)})
                {source}
                ON CONFLICT ({KEY}) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in VALUES)}
                WHERE ({", ".join(f"price_rows.{c}" for c in VALUES)})
                      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in VALUES)})
                RETURNING *)
            INSERT INTO changed SELECT * FROM up"""
    )
    return int(status.split()[-1])


_ROWS_PLACEHOLDER = "__rows_json__"


async def _publish(conn: asyncpg.Connection, market: str, now: datetime, report: ImportReport) -> None:
    """Changed rows as `pricing.prices_published` events of EVENT_ROWS each, streamed chunk by chunk.

    Events carry what other services price by; titles, ERP price and segment stay in pricing.
    PostgreSQL builds each chunk's JSON; it is spliced into the envelope as is (no parse and re-serialise).
    """
    query = f"""SELECT json_agg(json_build_object(
                'product_id', product_id, 'sku_id', sku_id, 'market', market, 'currency', currency,
                'term_duration', term_duration, 'billing_cycle', billing_cycle, 'tier_min', tier_min,
                'tier_max', tier_max, 'effective_start', effective_start, 'effective_end', effective_end,
                'unit_price', unit_price::text, 'tags', tags, 'end_of_sale_date', end_of_sale_date
                ) ORDER BY n)::text AS rows
            FROM (SELECT *, row_number() OVER (ORDER BY {KEY}) - 1 AS n FROM changed) c
            GROUP BY n / {EVENT_ROWS} ORDER BY n / {EVENT_ROWS}"""
    async for chunk in conn.cursor(query, prefetch=1):
        event = envelope_for("pricing.prices_published", {"market": market, "rows": _ROWS_PLACEHOLDER},
                             occurred_at=now, source="pricing")
        payload = event.to_bytes().replace(f'"{_ROWS_PLACEHOLDER}"'.encode(), chunk["rows"].encode(), 1)
        await enqueue(conn, "nce.pricing.events", market.encode(), payload, event.headers())
    for eos in await conn.fetch(
        """SELECT DISTINCT product_id, sku_id, term_duration, billing_cycle, end_of_sale_date,
                  'EndOfSaleWithConversions' = ANY(tags) AS conversions
           FROM changed WHERE end_of_sale_date IS NOT NULL ORDER BY 1, 2, 3, 4"""
    ):
        data = {"product_id": eos["product_id"], "sku_id": eos["sku_id"], "market": market,
                "term_duration": eos["term_duration"], "billing_cycle": eos["billing_cycle"],
                "state": "EndOfSaleWithConversions" if eos["conversions"] else "EndOfSale",
                "effective_date": eos["end_of_sale_date"].isoformat()}
        await enqueue_envelope(conn, envelope_for("pricing.eos_date_found", data, occurred_at=now, source="pricing"),
                               market)
        report.eos_found += 1


async def import_pricelist(
    pool: asyncpg.Pool, path: Path, market: str, now: datetime, *, skip_invalid: bool = False, batch: int = 5000
) -> ImportReport:
    """Import one market's price list. With invalid rows nothing is stored unless `skip_invalid`."""
    market = market.upper()
    report = ImportReport(market)
    sha = _sha256(path)
    async with pool.acquire() as conn, conn.transaction():
        await _stage(conn, path, market, report, batch)
        repeated = await _duplicates(conn, report)
        if report.invalid and not skip_invalid:
            raise ImportRefusedError(report)
        report.changed = await _merge(conn, repeated)
        await _publish(conn, market, now, report)
        await conn.execute(
            "INSERT INTO imports (market, sha256, rows, changed, invalid, imported_at) VALUES ($1, $2, $3, $4, $5, $6)",
            market, sha, report.rows, report.changed, report.invalid, now,
        )
    report.stored = True
    return report

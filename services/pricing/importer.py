"""Importing a Partner Center price list: stream, validate, COPY, merge, publish what changed — one transaction.

Memory stays flat: the file is read row by row, rows go to PostgreSQL in COPY batches, and events are built from
the changed rows in chunks. Re-importing a file changes nothing and publishes nothing.
"""
import csv
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from shared.messaging.outbox import enqueue_envelope, envelope_for

from services.pricing.domain.pricelist import Row, RowError, header_index, parse_row

KEY = "product_id, sku_id, market, currency, term_duration, billing_cycle, tier_min, effective_start"
VALUES = ("effective_end", "unit_price", "erp_price", "tags", "end_of_sale_date", "segment", "product_title",
          "sku_title")
COLUMNS = Row._fields
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


async def _stage(conn: asyncpg.Connection, path: Path, market: str, report: ImportReport, batch: int) -> None:
    await conn.execute(
        "CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT 0 AS line, * FROM price_rows WITH NO DATA"
    )
    pending: list[tuple[object, ...]] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            index = header_index(next(reader, []))
        except RowError as e:
            report.problem(1, str(e))
            return
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            report.rows += 1
            try:
                pending.append((reader.line_num, *parse_row(values, index, market)))
            except RowError as e:
                report.problem(reader.line_num, str(e))
            if len(pending) >= batch:
                await conn.copy_records_to_table("staging", records=pending, columns=("line", *COLUMNS))
                pending.clear()
    if pending:
        await conn.copy_records_to_table("staging", records=pending, columns=("line", *COLUMNS))


async def _duplicates(conn: asyncpg.Connection, report: ImportReport) -> None:
    """The same key twice in one file is ambiguous: report every later line and keep the first."""
    for r in await conn.fetch(
        f"SELECT array_agg(line ORDER BY line) AS lines FROM staging GROUP BY {KEY} HAVING count(*) > 1"
    ):
        for line in r["lines"][1:]:
            report.problem(line, f"same product, SKU, market, currency, term, plan, tier and start as line {r['lines'][0]}")
    same_key = " AND ".join(f"s.{c} = t.{c}" for c in KEY.split(", "))
    await conn.execute(f"DELETE FROM staging s USING staging t WHERE {same_key} AND s.line > t.line")


async def _merge(conn: asyncpg.Connection) -> int:
    """Upsert staged rows; rows whose content is unchanged are not touched. Returns how many changed."""
    await conn.execute("CREATE TEMP TABLE changed ON COMMIT DROP AS SELECT * FROM price_rows WITH NO DATA")
    status = await conn.execute(
        f"""WITH up AS (
                INSERT INTO price_rows ({", ".join(COLUMNS)}) SELECT {", ".join(COLUMNS)} FROM staging
                ON CONFLICT ({KEY}) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in VALUES)}
                WHERE ({", ".join(f"price_rows.{c}" for c in VALUES)})
                      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in VALUES)})
                RETURNING *)
            INSERT INTO changed SELECT * FROM up"""
    )
    return int(status.split()[-1])


async def _publish(conn: asyncpg.Connection, market: str, now: datetime, report: ImportReport) -> None:
    chunks = await conn.fetch(
        f"""SELECT json_agg(json_build_object(
                'product_id', product_id, 'sku_id', sku_id, 'market', market, 'currency', currency,
                'term_duration', term_duration, 'billing_cycle', billing_cycle, 'tier_min', tier_min,
                'tier_max', tier_max, 'effective_start', effective_start, 'effective_end', effective_end,
                'unit_price', unit_price::text, 'erp_price', erp_price::text, 'tags', tags,
                'end_of_sale_date', end_of_sale_date, 'segment', segment, 'product_title', product_title,
                'sku_title', sku_title) ORDER BY n) AS rows
            FROM (SELECT *, row_number() OVER (ORDER BY {KEY}) - 1 AS n FROM changed) c
            GROUP BY n / {EVENT_ROWS} ORDER BY n / {EVENT_ROWS}"""
    )
    for chunk in chunks:
        data = {"market": market, "rows": json.loads(chunk["rows"])}
        await enqueue_envelope(conn, envelope_for("pricing.prices_published", data, occurred_at=now, source="pricing"),
                               market)
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
        await _duplicates(conn, report)
        if report.invalid and not skip_invalid:
            raise ImportRefusedError(report)
        report.changed = await _merge(conn)
        await _publish(conn, market, now, report)
        await conn.execute(
            "INSERT INTO imports (market, sha256, rows, changed, invalid, imported_at) VALUES ($1, $2, $3, $4, $5, $6)",
            market, sha, report.rows, report.changed, report.invalid, now,
        )
    report.stored = True
    return report

"""Importing a Partner Center price list: COPY, validate, merge, publish what changed — one transaction.

The file goes to PostgreSQL as it is. A typed COPY into a temporary table parses it (a value that does not parse
skips its row, and PostgreSQL names the line, column and value); one query checks the rest of §2.2; one statement
inserts the new rows, updates the changed ones and writes them as `pricing.prices_published` events of EVENT_ROWS
rows. Python holds only the header and the error report, so memory stays flat whatever the file's size.
Re-importing a file changes nothing and publishes nothing. Line numbers count the header as line 1 (a row with a
line break inside a quoted field would shift the numbers after it; Partner Center files have none).
"""
import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared.contracts import latest
from shared.contracts.envelope import new_envelope
from shared.contracts.pricing import EVENT_COLUMNS
from shared.messaging.outbox import enqueue_envelope, envelope_for

from services.pricing.domain.pricelist import PLANS, TERMS, RowError, header_index
from services.pricing.storage import COLUMNS, KEY, VALUES

EVENT_ROWS = 500
MAX_REPORTED = 100
MAX_TAGS = 20
MAX_TAG_LENGTH = 100  # tags travel in every prices_published event: a huge one made events no consumer reads
TIER_MAX = 999_999_999
# The typed columns PostgreSQL parses during COPY, and how a bad value is named in the report.
TYPES = {"UnitPrice": "numeric", "ERP Price": "numeric", "PricingTierRangeMin": "bigint",
         "PricingTierRangeMax": "bigint", "EffectiveStartDate": "date", "EffectiveEndDate": "date",
         "EndofSaleDate": "date"}
KINDS = {"numeric": "a number", "bigint": "a whole number", "date": "a date (M/D/YYYY or YYYY-MM-DD)"}
_SKIPPED = re.compile(r'at line (\d+) for column "c(\d+)": "(.*)"$', re.DOTALL)
_PLACEHOLDER = UUID(int=0)


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


def _header(path: Path) -> list[str]:
    """The first line's column names; only that line is decoded here (COPY names the line of a bad byte after it)."""
    with open(path, "rb") as f:
        first = f.readline()
    return next(csv.reader([first.decode("utf-8-sig")]), [])


def _source(index: dict[str, int]) -> str:
    """The staged rows as price_rows columns (plus the staging row number `n`), normalised as §2.2 reads them.

    Values are taken as written (no trimming): an identifier with spaces around it fails its check, by name.
    """
    def col(name: str, default: str = "NULL") -> str:  # an absent typed column is a NULL of its type
        return f"c{index[name]}" if name in index else f"NULL::{TYPES[name]}" if name in TYPES else default

    return f"""SELECT n, {col("ProductId")} AS product_id, {col("SkuId")} AS sku_as_written,
                      lpad({col("SkuId")}, 4, '0') AS sku_id, {col("Market")} AS market,
                      {col("Currency")} AS currency, {col("TermDuration")} AS term_duration,
                      lower({col("BillingPlan")}) AS billing_cycle,
                      coalesce({col("PricingTierRangeMin")}, 1) AS tier_min,
                      coalesce({col("PricingTierRangeMax")}, {TIER_MAX}) AS tier_max,
                      {col("EffectiveStartDate")} AS effective_start, {col("EffectiveEndDate")} AS effective_end,
                      {col("UnitPrice")} AS unit_price, {col("ERP Price")} AS erp_price,
                      array_remove(string_to_array(replace(coalesce({col("Tags")}, ''), ' ', ''), ';', ''), NULL)
                          AS tags, coalesce({col("Tags")}, '') AS tags_as_written,
                      {col("EndofSaleDate")} AS end_of_sale_date,
                      coalesce(nullif({col("Segment")}, ''), 'Commercial') AS segment,
                      coalesce({col("ProductTitle", "''")}, '') AS product_title,
                      coalesce({col("SkuTitle", "''")}, '') AS sku_title
               FROM staging"""


def _date_ok(column: str) -> str:
    """A date Python and every consumer can read back: PostgreSQL also takes BC years and years past 9999."""
    return f"{column} BETWEEN '0001-01-01' AND '9999-12-31'"


def _only(column: str, letters: str, length: str) -> str:
    """`column` is `length` characters from `letters` (a bounded regex repeat costs PostgreSQL twice as much)."""
    return f"(length({column}) {length} AND {column} ~ '^[{letters}]+$')"


def _money_ok(column: str) -> str:
    return f"({column} >= 0 AND {column} < 1e9 AND scale({column}) <= 6)"


# Each check in the order a person fixing the file would want them (the first failing one is reported), with the
# values its message shows as {a} and {b}.
CHECKS: list[tuple[str, tuple[str, ...], str]] = [
    (_only("product_id", "A-Z0-9", "= 12"), ("product_id",), "ProductId {a!r} is not 12 upper-case letters or digits"),
    (_only("sku_as_written", "A-Z0-9", "BETWEEN 1 AND 4"), ("sku_as_written",),
     "SkuId {a!r} is not 1-4 upper-case letters or digits"),
    ("market = $1", ("market",), "Market {a!r} does not match the file's market {market}"),
    (_only("currency", "A-Z", "= 3"), ("currency",), "Currency {a!r} is not an ISO 4217 code"),
    (f"term_duration IN ({', '.join(repr(t) for t in sorted(TERMS))})", ("term_duration",),
     "TermDuration {a!r} is not P1M, P1Y or P3Y"),
    (f"billing_cycle IN ({', '.join(repr(p) for p in sorted(PLANS))})", ("billing_cycle",),
     "BillingPlan {a!r} is not Monthly, Annual, Triennial or None"),
    (_date_ok("effective_start"), ("effective_start",),
     "EffectiveStartDate {a!r} is not a date from 0001-01-01 to 9999-12-31"),
    (_date_ok("effective_end"), ("effective_end",), "EffectiveEndDate {a!r} is not a date from 0001-01-01 to 9999-12-31"),
    ("effective_start <= effective_end", ("effective_start", "effective_end"),
     "EffectiveStartDate {a} is after EffectiveEndDate {b}"),
    (f"tier_min BETWEEN 0 AND {TIER_MAX} AND tier_max BETWEEN 0 AND {TIER_MAX}", ("tier_min", "tier_max"),
     "PricingTierRange {a}-{b} must be whole numbers from 0 to " + f"{TIER_MAX:,}"),
    ("tier_min <= tier_max", ("tier_min", "tier_max"), "PricingTierRangeMin {a} is above PricingTierRangeMax {b}"),
    (f"unit_price IS NOT NULL AND {_money_ok('unit_price')}", ("unit_price",),
     "UnitPrice {a!r} must be between 0 and 1000000000 with at most 6 decimals"),
    (f"erp_price IS NULL OR {_money_ok('erp_price')}", ("erp_price",),
     "ERP Price {a!r} must be between 0 and 1000000000 with at most 6 decimals"),
    (f"cardinality(tags) <= {MAX_TAGS}", ("cardinality(tags)",), "Tags has {a} entries, at most " + f"{MAX_TAGS}"),
    (f"length(tags_as_written) <= {MAX_TAG_LENGTH} "  # no tag can be longer than the cell: skip the unnest
     f"OR NOT EXISTS (SELECT FROM unnest(tags) t WHERE length(t) > {MAX_TAG_LENGTH})",
     ("(SELECT max(length(t)) FROM unnest(tags) t)",),
     "Tags has an entry of {a} characters, at most " + f"{MAX_TAG_LENGTH}"),
    (f"end_of_sale_date IS NULL OR {_date_ok('end_of_sale_date')}", ("end_of_sale_date",),
     "EndofSaleDate {a!r} is not a date from 0001-01-01 to 9999-12-31"),
]


def _validation(source: str) -> str:
    failing = "CASE " + " ".join(f"WHEN NOT coalesce({check}, false) THEN {i}"
                                 for i, (check, _, _) in enumerate(CHECKS)) + " END"
    shown = "CASE f " + " ".join(f"WHEN {i} THEN ARRAY[{', '.join(f'{c}::text' for c in columns)}]"
                                 for i, (_, columns, _) in enumerate(CHECKS)) + " END"
    return f"""SELECT n, f, {shown} AS shown FROM (SELECT *, {failing} AS f FROM ({source}) s) v
               WHERE f IS NOT NULL ORDER BY n"""


async def _stage(conn: asyncpg.Connection, path: Path, header: list[str], report: ImportReport) -> dict[str, int]:
    """COPY the file into `staging`, typed; rows whose values don't parse are skipped and reported."""
    index = header_index(header)
    names = {i: name for name, i in index.items()}
    columns = [f"c{i}" for i in range(len(header))]
    await conn.execute(
        "CREATE TEMP TABLE staging (n bigint GENERATED ALWAYS AS IDENTITY, "
        + ", ".join(f"c{i} {TYPES.get(names.get(i, ''), 'text')}" for i in range(len(header)))
        + ") ON COMMIT DROP"
    )
    skipped: list[str] = []
    listener = lambda _conn, message: skipped.append(message.message)
    conn.add_log_listener(listener)
    try:
        await conn.execute("SET LOCAL datestyle = 'ISO, MDY'; SET LOCAL work_mem = '256MB'; SET LOCAL enable_mergejoin = off")
        typed = ", ".join(f"c{index[n]}" for n in TYPES if n in index)
        # asyncpg's copy_to_table has no ON_ERROR (PostgreSQL 17+): the same COPY, with it, through _copy_in.
        await conn._copy_in(
            f"COPY staging ({', '.join(columns)}) FROM STDIN (FORMAT csv, HEADER true, ON_ERROR ignore, "
            f"LOG_VERBOSITY verbose{f', FORCE_NULL ({typed})' if typed else ''})", path, None)
    except asyncpg.PostgresError as e:
        line = re.search(r"line (\d+)", f"{getattr(e, 'context', '')} {e}")
        report.problem(int(line[1]) if line else 1, f"not a well-formed CSV price list: {e}")
        raise ImportRefusedError(report) from None
    finally:
        conn.remove_log_listener(listener)
    for message in skipped:
        if m := _SKIPPED.search(message):
            name = names[int(m[2])]
            report.problem(int(m[1]), f"{name} {m[3]!r} is not {KINDS[TYPES[name]]}")
    report.rows = await conn.fetchval("SELECT coalesce(max(n), 0) FROM staging") or 0
    report.rows = max(report.rows, *(line - 1 for line, _ in report.errors), 0)
    return index


async def _validate(conn: asyncpg.Connection, source: str, market: str, report: ImportReport) -> list[int]:
    """Report every staged row that breaks a rule of §2.2; return their row numbers."""
    bad = await conn.fetch(_validation(source), market)
    for r in bad:
        a, b = [("" if v is None else v) for v in (r["shown"] + [None])[:2]]
        report.problem(r["n"] + 1, CHECKS[r["f"]][2].format(a=a, b=b, market=market))
    return [r["n"] for r in bad]


async def _repeated(conn: asyncpg.Connection, source: str, report: ImportReport) -> list[int]:
    """Report every row repeating an earlier row's key (ambiguous: which price holds?); return their row numbers."""
    key = ", ".join(KEY)
    found = await conn.fetch(f"""SELECT n, first FROM (
                                     SELECT n, min(n) OVER (PARTITION BY {key}) AS first FROM ({source}) s) d
                                 WHERE n > first ORDER BY n""")
    for r in found:
        report.problem(r["n"] + 1, f"same product, SKU, market, currency, term, plan, tier and start as line "
                                   f"{r['first'] + 1}")
    return [r["n"] for r in found]


class _RepeatedKey(Exception):
    """The merge met a key twice in the file: it is undone and the repeated rows are looked for and reported."""


def _envelope_template(market: str, now: datetime, correlation_id: str) -> tuple[str, str]:
    """A prices_published envelope and its headers as text, with the id and rows left as placeholders."""
    spec = latest("pricing.prices_published")
    envelope = new_envelope(id=_PLACEHOLDER, type=spec.type, version=spec.version, occurred_at=now, source="pricing",
                            correlation_id=correlation_id,
                            data={"market": market, "columns": list(EVENT_COLUMNS), "rows": "__rows__"})
    headers = json.dumps([[k, v.decode()] for k, v in envelope.headers()])
    return envelope.to_bytes().decode(), headers


def _merge_and_publish(source: str) -> str:
    """One statement: insert new rows, update changed ones, write them as events; return the count and EOS dates.

    One join finds each row's stored version; both data-modifying parts see the rows as they were before the
    statement, so a row is either inserted or updated. A key the file repeats is caught here rather than looked for
    beforehand: a new one breaks price_rows' primary key, a stored one is found twice (`repeated` > 0).
    """
    cols = ", ".join(COLUMNS)
    on_key = " AND ".join(f"p.{k} = s.{k}" for k in KEY)
    row_json = ", ".join("unit_price::text" if c == "unit_price" else c for c in EVENT_COLUMNS)
    return f"""
        WITH src AS MATERIALIZED (
            SELECT s.*, p.ctid AS existing,
                   ({", ".join(f"p.{c}" for c in VALUES)}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in VALUES)})
                   AS differs
            FROM ({source}) s LEFT JOIN price_rows p ON {on_key}),
        inserted AS (
            INSERT INTO price_rows ({cols}) SELECT {cols} FROM src WHERE existing IS NULL RETURNING *),
        updated AS (
            UPDATE price_rows p SET {", ".join(f"{c} = s.{c}" for c in VALUES)} FROM src s
            WHERE p.ctid = s.existing AND s.differs
            RETURNING p.*),
        changed AS (SELECT * FROM inserted UNION ALL SELECT * FROM updated),
        chunks AS (
            SELECT gen_random_uuid()::text AS id, json_agg(json_build_array({row_json}))::text AS rows
            FROM (SELECT *, row_number() OVER () - 1 AS i FROM changed) c GROUP BY i / {EVENT_ROWS}),
        published AS (
            INSERT INTO outbox (topic, key, headers, payload)
            SELECT $1, $2::bytea, replace($4, $5, id)::jsonb,
                   convert_to(replace(replace($3, $5, id), '"__rows__"', rows), 'UTF8')
            FROM chunks RETURNING 1)
        SELECT (SELECT count(existing) - count(DISTINCT existing) FROM src) AS repeated,
               (SELECT count(*) FROM changed) AS changed, (SELECT count(*) FROM published) AS events,
               (SELECT json_agg(e ORDER BY e.product_id, e.sku_id, e.term_duration, e.billing_cycle) FROM (
                    SELECT DISTINCT product_id, sku_id, term_duration, billing_cycle, end_of_sale_date,
                           'EndOfSaleWithConversions' = ANY(tags) AS conversions
                    FROM changed WHERE end_of_sale_date IS NOT NULL) e) AS eos"""


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


async def _skip(conn: asyncpg.Connection, rows: list[int]) -> None:
    if rows:
        await conn.execute("DELETE FROM staging WHERE n = ANY($1::bigint[])", rows)


async def import_pricelist(
    pool: asyncpg.Pool, path: Path, market: str, now: datetime, *, skip_invalid: bool = False
) -> ImportReport:
    """Import one market's price list. With invalid rows nothing is stored unless `skip_invalid`."""
    market = market.upper()
    report = ImportReport(market)
    try:
        header = _header(path)
        header_index(header)
    except (RowError, UnicodeDecodeError) as e:
        report.problem(1, str(e))
        raise ImportRefusedError(report) from None
    sha = _sha256(path)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pricelist import ' || $1))", market)
        index = await _stage(conn, path, header, report)
        source = _source(index)
        skip = await _validate(conn, source, market, report)
        if report.invalid:  # the file is being refused or trimmed anyway: report its repeated keys too
            skip += await _repeated(conn, source, report)
        if report.invalid and not skip_invalid:
            raise ImportRefusedError(_sorted(report))
        correlation_id = str(uuid4())
        envelope, headers = _envelope_template(market, now, correlation_id)
        merge = (_merge_and_publish(source), latest("pricing.prices_published").topic.name, market.encode(), envelope,
                 headers, str(_PLACEHOLDER))
        try:
            async with conn.transaction():
                await _skip(conn, skip)
                result = await conn.fetchrow(*merge)
                if result["repeated"]:
                    raise _RepeatedKey
        except (asyncpg.UniqueViolationError, _RepeatedKey):
            repeated = await _repeated(conn, source, report)
            if not repeated:  # a key some other writer stored meanwhile: not the file's fault
                raise
            if not skip_invalid:
                raise ImportRefusedError(_sorted(report)) from None
            await _skip(conn, skip + repeated)
            result = await conn.fetchrow(*merge)
        _sorted(report)
        report.changed = result["changed"]
        found = json.loads(result["eos"]) if result["eos"] else []
        await _publish_eos(conn, market, now, found, correlation_id)
        report.eos_found = len(found)
        await conn.execute(
            "INSERT INTO imports (market, sha256, rows, changed, invalid, imported_at) VALUES ($1, $2, $3, $4, $5, $6)",
            market, sha, report.rows, report.changed, report.invalid, now,
        )
    report.stored = True
    return report

"""Staging a price list on a connection of its own, chunk by chunk, while the import's transaction merges.

The file is cut into chunks that end where a record ends (a line break outside quotes). Each chunk goes as it is
into a typed `COPY … (ON_ERROR ignore, LOG_VERBOSITY verbose)` into a temporary table (a value that does not parse
skips its row, and PostgreSQL names the line, column and value), and one statement turns it into an UNLOGGED table
`pricelist_staging_<token>_<k>`: the rows as price_rows columns, normalised as §2.2 reads them, with their row
number `n` (the header is line 1, so row n is line n + 1) and whether they pass every check of §2.2 (`ok`). The
staged rows that fail a check are looked up again for the report. The chunk's table is committed, so the import's
transaction (another session, see importer.py) can merge it while the next chunk is staged here; nothing here
writes price_rows or the outbox. The tables are dropped when the import ends; a crashed import's are dropped by
the next import, once the advisory lock its staging session held on its token is free.
"""
import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import asyncpg

from services.pricing.domain.pricelist import PLANS, TERMS, header_index
from services.pricing.storage import COLUMNS, KEY
from shared.rules.plans import ALL_PLANS

CHUNK_BYTES = 4 << 20  # ≈ 13,000 rows of a Partner Center file: small enough to keep both connections busy
MAX_REPORTED = 100
MAX_TAGS = 20
MAX_TAG_LENGTH = 100  # tags travel in every prices_published event: a huge one made events no consumer reads
TIER_MAX = 999_999_999
# The typed columns PostgreSQL parses during COPY, and how a bad value is named in the report.
TYPES = {"UnitPrice": "numeric", "ERP Price": "numeric", "PricingTierRangeMin": "bigint",
         "PricingTierRangeMax": "bigint", "EffectiveStartDate": "date", "EffectiveEndDate": "date",
         "EndofSaleDate": "date"}
# The columns the import reads; any other (a description, a column Partner Center adds) is staged as "char", which
# takes any value and keeps its first byte: staging a file's SkuDescription as text cost a third of its COPY.
READ = ("ProductId", "SkuId", "Market", "Currency", "TermDuration", "BillingPlan", "PricingTierRangeMin",
        "PricingTierRangeMax", "EffectiveStartDate", "EffectiveEndDate", "UnitPrice", "ERP Price", "Tags",
        "EndofSaleDate", "Segment", "ProductTitle", "SkuTitle")
KINDS = {"numeric": "a number", "bigint": "a whole number", "date": "a date (M/D/YYYY or YYYY-MM-DD)"}
PREFIX = "pricelist_staging_"
_SKIPPED = re.compile(r'at line (\d+) for column "c(\d+)": "(.*)"$', re.DOTALL)
_LINE = re.compile(r"line (\d+)")
_BLOCK = 1 << 19


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


def _staged_type(name: str) -> str:
    return TYPES.get(name, "text") if name in READ else '"char"'


def _source(index: dict[str, int]) -> str:
    """The staged rows as price_rows columns (plus the staging row number `n`), normalised as §2.2 reads them.

    Values are taken as written (no trimming): an identifier with spaces around it fails its check, by name.
    """
    def col(name: str, default: str = "NULL") -> str:  # an absent typed column is a NULL of its type
        if name not in READ:
            raise ValueError(f"{name} is not staged as it is written: add it to READ")
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


_PLAN_LIST = ", ".join(f"('{t}', '{c}')" for t, c in sorted(ALL_PLANS))

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
    (f"(term_duration, billing_cycle) IN ({_PLAN_LIST})", ("term_duration", "billing_cycle"),
     ("TermDuration {a} with BillingPlan {b} is not a plan: P1M Monthly; P1Y Monthly or Annual; P3Y Monthly, Annual "
      "or Triennial; a trial P1M None")),
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
    ("billing_cycle <> 'none' OR unit_price = 0", ("unit_price",),
     "BillingPlan None is a trial's, and a trial is free: UnitPrice {a} must be 0"),
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
# Whether a row passes them all: one AND of the checks costs less than finding the first failing one, which is
# only looked for in the rows that fail.
ALL_OK = "coalesce(" + " AND ".join(f"({check})" for check, _, _ in CHECKS) + ", false)"


def _validation(source: str) -> str:
    failing = "CASE " + " ".join(f"WHEN NOT coalesce({check}, false) THEN {i}"
                                 for i, (check, _, _) in enumerate(CHECKS)) + " END"
    shown = "CASE f " + " ".join(f"WHEN {i} THEN ARRAY[{', '.join(f'{c}::text' for c in columns)}]"
                                 for i, (_, columns, _) in enumerate(CHECKS)) + " END"
    return f"""SELECT n, f, {shown} AS shown FROM (SELECT *, {failing} AS f FROM ({source}) s) v
               WHERE f IS NOT NULL ORDER BY n"""


def _record_end(block: bytes, quotes_odd: bool) -> int:
    """Where a chunk may end in `block`: after its last line break outside quotes (0: none among the last few)."""
    end = len(block)
    for _ in range(16):
        end = block.rfind(b"\n", 0, end)
        if end < 0:
            return 0
        if (block.count(b'"', 0, end) % 2 == 1) == quotes_odd:  # an even number of quotes before it in all
            return end + 1
    return 0


class _Chunks:
    """The file as chunks, read a block at a time, each ending where a record ends; its SHA-256 on the way."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.digest = hashlib.sha256()
        self._next = self._read()

    def _read(self) -> bytes:
        block = self._f.read(_BLOCK)
        self.digest.update(block)
        return block

    @property
    def done(self) -> bool:
        return not self._next

    async def chunk(self, size: int) -> AsyncIterator[bytes]:
        """The next chunk of about `size` bytes, a block at a time."""
        sent, quotes_odd = 0, False
        while self._next:
            block, self._next = self._next, self._read()
            if sent + len(block) >= size and self._next and (cut := _record_end(block, quotes_odd)):
                self._next = block[cut:] + self._next
                yield block[:cut]
                return
            quotes_odd ^= block.count(b'"') % 2 == 1
            sent += len(block)
            yield block


class Staging:
    """Stages the file in chunks (`run`), handing each chunk's table to the merge through `ready`."""

    def __init__(self, conn: asyncpg.Connection, path: Path, header: list[str], market: str, report: ImportReport,
                 token: str) -> None:
        self.conn, self.path, self.header, self.market, self.report = conn, path, header, market, report
        self.index = header_index(header)
        self.names = {i: name for name, i in self.index.items()}
        self.source = _source(self.index)
        self.token = token
        self.tables: list[str] = []
        self.sha256 = ""  # the file's, once staged
        self.ready: asyncio.Queue[str | None] = asyncio.Queue()
        self._repeated: list[int] | None = None

    @property
    def _lock(self) -> str:
        return _token_lock(self.token)

    async def run(self) -> None:
        """Stage every chunk; refuse the file (ImportRefusedError) when it is not well-formed CSV."""
        try:
            await self.conn.execute(f"SELECT pg_advisory_lock({self._lock})")
            await sweep(self.conn)
            records = 0
            with open(self.path, "rb") as f:
                chunks = _Chunks(f)
                while not self.tables or not chunks.done:
                    # a small first chunk, so that the merge starts early
                    records = await self._stage(chunks.chunk(CHUNK_BYTES // 4 if not self.tables else CHUNK_BYTES),
                                                records)
                self.sha256 = chunks.digest.hexdigest()
            self.report.rows = max(records, *(line - 1 for line, _ in self.report.errors), 0)
        finally:
            self.ready.put_nowait(None)

    async def _stage(self, chunk: AsyncIterator[bytes], records: int) -> int:
        """Stage the next chunk, whose first row is row `records` + 1; return the rows staged so far."""
        names, source = self.names, self.source
        first = not self.tables
        shift = 0 if first else records + 1  # a chunk's COPY counts its lines from 1; the first one has the header
        table = f"{PREFIX}{self.token}_{len(self.tables)}"
        skipped: list[str] = []
        listener = lambda _conn, message: skipped.append(message.message)
        async with self.conn.transaction():
            settings = "SET LOCAL datestyle = 'ISO, MDY'; SET LOCAL work_mem = '64MB'"
            # One table for the whole import, emptied at each chunk's commit; `n` goes on counting across chunks.
            await self.conn.execute(settings if not first else (
                f"{settings}; DROP TABLE IF EXISTS pg_temp.staging; "
                "CREATE TEMP TABLE staging (n bigint GENERATED ALWAYS AS IDENTITY, "
                + ", ".join(f"c{i} {_staged_type(names.get(i, ''))}" for i in range(len(self.header)))
                + ") ON COMMIT DELETE ROWS"))
            typed = ", ".join(f"c{self.index[n]}" for n in TYPES if n in self.index)
            self.conn.add_log_listener(listener)
            try:
                # asyncpg's copy_to_table has no ON_ERROR (PostgreSQL 17+): the same COPY, with it, through _copy_in.
                await self.conn._copy_in(
                    f"COPY staging ({', '.join(f'c{i}' for i in range(len(self.header)))}) FROM STDIN (FORMAT csv, "
                    f"HEADER {str(first).lower()}, ON_ERROR ignore, LOG_VERBOSITY verbose"
                    f"{f', FORCE_NULL ({typed})' if typed else ''})", chunk, None)
            except asyncpg.PostgresError as e:
                line = _LINE.search(f"{getattr(e, 'context', '')} {e}")
                self.report.problem(int(line[1]) + shift if line else 1, f"not a well-formed CSV price list: {e}")
                raise ImportRefusedError(self.report) from None
            finally:
                self.conn.remove_log_listener(listener)
            for message in skipped:
                if m := _SKIPPED.search(message):
                    name = names[int(m[2])]
                    self.report.problem(int(m[1]) + shift, f"{name} {m[3]!r} is not {KINDS[TYPES[name]]}")
            records = await self.conn.fetchval(
                "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('pg_temp.staging', 'n')), $1)",
                records)
            # The checks read the normalised values, computed once (OFFSET 0 keeps PostgreSQL from inlining them).
            await self.conn.execute(
                f"CREATE UNLOGGED TABLE {table} AS SELECT n, {', '.join(COLUMNS)}, "
                f"{ALL_OK.replace('$1', _literal(self.market))} AS ok FROM ({source} OFFSET 0) s")
            bad = await self.conn.fetchval(f"SELECT array_agg(n) FROM {table} WHERE NOT ok")
            if bad:
                await self._report_failed(source, bad)
        self.tables.append(table)
        self.ready.put_nowait(table)
        return records

    async def _report_failed(self, source: str, rows: list[int]) -> None:
        """Report, for each staged row that breaks a rule of §2.2, the first rule it breaks."""
        failed = await self.conn.fetch(_validation(f"{source} WHERE n = ANY($2::bigint[])"), self.market, rows)
        for r in failed:
            a, b = [("" if v is None else v) for v in (r["shown"] + [None])[:2]]
            self.report.problem(r["n"] + 1, CHECKS[r["f"]][2].format(a=a, b=b, market=self.market))

    async def repeated(self) -> list[int]:
        """Report every row repeating an earlier row's key (which price holds?); return their row numbers."""
        if self._repeated is None:
            key = ", ".join(KEY)
            rows = " UNION ALL ".join(f"SELECT n, {key} FROM {t}" for t in self.tables)
            found = await self.conn.fetch(f"""SELECT n, first FROM (
                                                  SELECT n, min(n) OVER (PARTITION BY {key}) AS first FROM ({rows}) s) d
                                              WHERE n > first ORDER BY n""") if rows else []
            for r in found:
                self.report.problem(r["n"] + 1, f"same product, SKU, market, currency, term, plan, tier and start as "
                                                f"line {r['first'] + 1}")
            self._repeated = [r["n"] for r in found]
        return self._repeated

    async def close(self) -> None:
        """Drop the staged tables and free the token."""
        try:
            await self.conn.execute(f"DROP TABLE IF EXISTS {', '.join(['pg_temp.staging', *self.tables])}")
        finally:
            await self.conn.execute(f"SELECT pg_advisory_unlock({self._lock})")


def _token_lock(token: str) -> str:
    """The advisory lock key an import's staging session holds on its token (hex) while its tables are in use."""
    return f"hashtextextended('pricelist staging ' || {token!r}, 0)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'" if "\\" not in text else "E'" + text.replace("\\", "\\\\").replace(
        "'", "''") + "'"


async def sweep(conn: asyncpg.Connection) -> None:
    """Drop the staged tables of imports that ended without dropping them (their staging session is gone)."""
    tokens = await conn.fetch(
        "SELECT substring(relname FROM $1) AS token, array_agg(relname::text) AS tables FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND relname ~ $1 GROUP BY 1",
        f"^{PREFIX}([0-9a-f]+)_[0-9]+$")
    for t in tokens:
        lock = _token_lock(t["token"])
        if await conn.fetchval(f"SELECT pg_try_advisory_lock({lock})"):
            try:
                await conn.execute(f"DROP TABLE IF EXISTS {', '.join(t['tables'])}")
            finally:
                await conn.execute(f"SELECT pg_advisory_unlock({lock})")

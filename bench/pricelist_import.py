"""Price-list import benchmark: our importer versus a raw PostgreSQL COPY of the same rows, in one run.

Run: `.venv/bin/python bench/pricelist_import.py [--rows N]` (default 200,000 rows). Uses NCE_DATABASE_URL
when set, else the embedded PostgreSQL (see shared/infra.py; start() also brings up the broker, unused here).

What it measures, on one synthetic, valid price list for market US (streamed to a file in a scratch dir):
  a) raw COPY: `COPY bench.bench_raw FROM STDIN (FORMAT csv, HEADER true)` of the file into a plain typed
     table with the same primary key as pricing.price_rows: what PostgreSQL alone does with these rows;
  b) importer, first import: `import_pricelist` into a fresh schema `bench_pricing` migrated with the
     pricing service's migrations (every row is new, so every row changes and 'pricing.prices_published'
     events are written), then a re-import of the same file (nothing changes, nothing is published).
Both report rows/s; the ratio is importer_first / raw_copy (target ≥ 0.5). A single COPY of these rows varies by a
third from run to run on a shared machine, so the raw COPY and the first import run `--repeat` times, interleaved,
and the medians are compared (every run is listed too).
The schemas `bench` and `bench_pricing` are dropped at the end (a real `pricing` schema is never touched).

Peak memory: each importer run happens in a fresh child process (multiprocessing, "spawn"); the child
reports its peak RSS (getrusage ru_maxrss) minus its RSS just before the import started, for a file of N/4
rows and one of N rows, so the output shows whether the importer's memory grows with the file size. Only
the Python process is measured; PostgreSQL's memory is not. Progress goes to stderr, one JSON document to
stdout.
"""
import argparse
import asyncio
import csv
import json
import os
import platform
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from services.pricing.app import SERVICE
from services.pricing.domain.pricelist import COLUMNS, OPTIONAL
from services.pricing.importer import EVENT_ROWS, import_pricelist
from shared import infra
from shared.db.migrate import migrate
from shared.db.pool import create_pool

MARKET = "US"
IMPORT_SCHEMA = "bench_pricing"  # the pricing migrations in a schema of its own: never touch real data

PAIRS = (("P1M", "Monthly"), ("P1Y", "Monthly"), ("P1Y", "Annual"), ("P3Y", "Monthly"), ("P3Y", "Annual"),
         ("P3Y", "Triennial"))
SKUS = 9
ROWS_PER_PRODUCT = SKUS * len(PAIRS)
MAX_PRODUCTS = 100_000  # ProductId is CFQ7TTC + 5 digits
DESCRIPTION = ("Web and mobile versions of Word, Excel, PowerPoint and Outlook, plus Teams, business email "
               "and 1 TB of OneDrive storage")
HEADER = (*COLUMNS, *OPTIONAL)
RAW_TABLE = """CREATE TABLE bench.bench_raw (
    product_title text, product_id text, sku_id text, sku_title text, publisher text, sku_description text,
    unit_of_measure text, term_duration text, billing_plan text, market text, currency text,
    unit_price numeric(24, 6), tier_min int, tier_max int, effective_start date, effective_end date,
    tags text, erp_price numeric(24, 6), end_of_sale_date date, segment text,
    PRIMARY KEY (product_id, sku_id, market, currency, term_duration, billing_plan, tier_min,
                 effective_start))"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def synthetic_row(i: int) -> tuple[str, ...]:
    """Row i of the list; rows differ on (product, SKU, market, currency, term, plan, tier, start)."""
    product, rest = divmod(i, ROWS_PER_PRODUCT)
    sku, pair = divmod(rest, len(PAIRS))
    term, plan = PAIRS[pair]
    cents = 100 + (i * 7919) % 99_900
    title = f"Synthetic Product {product:05d}"
    return (title, f"CFQ7TTC{product:05d}", str(sku + 1), f"{title} Plan {sku + 1}",
            "Microsoft Corporation", DESCRIPTION, "1 License", term, plan, MARKET, "USD", money(cents), "1",
            "999999", "1/1/2025", "12/31/9999", "License", money(cents * 6 // 5), "", "Commercial")


def write_pricelist(path: Path, rows: int) -> int:
    """Stream `rows` synthetic rows to `path` (never the whole file in memory); return its size in bytes."""
    if rows > MAX_PRODUCTS * ROWS_PER_PRODUCT:
        raise ValueError(f"at most {MAX_PRODUCTS * ROWS_PER_PRODUCT} distinct rows")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(synthetic_row(i))
    return path.stat().st_size


async def database_conditions(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        return {name: await conn.fetchval(f"SHOW {name}")
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")}
    finally:
        await conn.close()


async def checkpoint(conn: asyncpg.Connection) -> None:
    """Start each measured step with no dirty pages left by the one before (a checkpoint mid-step skews it)."""
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        pass  # NCE_DATABASE_URL without the right: measured as it comes


async def raw_copy(url: str, path: Path) -> tuple[int, float]:
    """COPY the file into a plain typed table with price_rows' key; return (rows, seconds)."""
    conn = await asyncpg.connect(url, server_settings={"datestyle": "ISO, MDY"})
    try:
        await conn.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        await conn.execute(RAW_TABLE)
        await checkpoint(conn)
        started = time.perf_counter()
        status = await conn.copy_to_table("bench_raw", schema_name="bench", source=path, format="csv",
                                          header=True)
        elapsed = time.perf_counter() - started
        return int(status.split()[-1]), elapsed
    finally:
        await conn.close()


async def drop_bench_schemas(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        await conn.execute(f"DROP SCHEMA IF EXISTS {IMPORT_SCHEMA} CASCADE")
    finally:
        await conn.close()


def rss_kib() -> int:
    return psutil.Process().memory_info().rss // 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux ≥ 4.0), so ru_maxrss covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


async def _import_once(url: str, path: Path, fresh: bool) -> dict[str, Any]:
    if fresh:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {IMPORT_SCHEMA} CASCADE")
        finally:
            await conn.close()
    pool = await create_pool(url, IMPORT_SCHEMA)
    try:
        await migrate(pool, IMPORT_SCHEMA, SERVICE.migrations)
        events_before = await pool.fetchval("SELECT count(*) FROM outbox")
        async with pool.acquire() as conn:
            await checkpoint(conn)
        hwm_reset = reset_peak_rss()
        before = rss_kib()
        started = time.perf_counter()
        report = await import_pricelist(pool, path, MARKET, datetime.now(UTC))
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        events = await pool.fetchval("SELECT count(*) FROM outbox") - events_before
    finally:
        await pool.close()
    return {"rows": report.rows, "changed": report.changed, "invalid": report.invalid,
            "eos_found": report.eos_found, "stored": report.stored, "events_written": events,
            "seconds": elapsed, "rss_before_kib": before, "peak_rss_kib": peak,
            "peak_rss_growth_kib": peak - before, "hwm_reset": hwm_reset}


def import_in_child(url: str, path: str, fresh: bool) -> dict[str, Any]:
    """Entry point of the child process: one import, timed and with its memory measured."""
    return asyncio.run(_import_once(url, Path(path), fresh))


def run_child(url: str, path: Path, fresh: bool) -> dict[str, Any]:
    """One import in a brand-new process, so its peak RSS belongs to that import alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(import_in_child, url, str(path), fresh).result()


def check(result: dict[str, Any], rows: int, changed: int) -> None:
    expected = {"rows": rows, "changed": changed, "invalid": 0, "stored": True}
    got = {k: result[k] for k in expected}
    if got != expected:
        raise AssertionError(f"import reported {got}, expected {expected}")


def importer_runs(url: str, path: Path, rows: int, raw_copies: int = 0) -> dict[str, Any]:
    """First imports into a fresh schema (each after a raw COPY when `raw_copies`), then one re-import of the file."""
    firsts, raws = [], []
    for _ in range(max(1, raw_copies)):
        if raw_copies:
            raws.append(asyncio.run(raw_copy(url, path)))
            if raws[-1][0] != rows:
                raise AssertionError(f"COPY loaded {raws[-1][0]} rows, expected {rows}")
            log(f"  raw COPY: {rows} rows in {raws[-1][1]:.2f}s")
        firsts.append(run_child(url, path, fresh=True))
        check(firsts[-1], rows, rows)
        log(f"  {rows} rows, first import: {firsts[-1]['seconds']:.2f}s, "
            f"peak RSS growth {firsts[-1]['peak_rss_growth_kib']} KiB")
    again = run_child(url, path, fresh=False)
    check(again, rows, 0)
    log(f"  {rows} rows, re-import: {again['seconds']:.2f}s, "
        f"peak RSS growth {again['peak_rss_growth_kib']} KiB")
    first = dict(firsts[0], seconds=statistics.median(r["seconds"] for r in firsts),
                 peak_rss_growth_kib=max(r["peak_rss_growth_kib"] for r in firsts))  # the worst run's memory
    return {"first": first, "reimport": again, "first_runs_s": [r["seconds"] for r in firsts],
            "raw_runs_s": [t for _, t in raws]}


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def summary(rows: int, size: int, db: dict[str, str], kind: str, runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    big = runs[rows]
    raw = (rows, statistics.median(big["raw_runs_s"]))
    raw_rate = raw[0] / raw[1]
    first_rate = big["first"]["rows"] / big["first"]["seconds"]
    return {
        "conditions": {
            "rows": rows, "bytes_per_row": round(size / rows, 1), "file_mb": round(size / 1e6, 1),
            "machine": f"{os.cpu_count()} cores, {platform.platform()}, "
                       f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
            "database": kind, **{f"pg_{k}": v for k, v in db.items()}, "client_and_database": "same machine",
            "event_chunk_rows": EVENT_ROWS,
            "events_written_first_import": big["first"]["events_written"],
            "memory_measured": "Python process only (peak RSS growth of a fresh child); "
                               "PostgreSQL not measured",
            "peak_rss_hwm_reset": all(r[k]["hwm_reset"] for r in runs.values() for k in ("first", "reimport")),
            "runs": f"median of {len(big['raw_runs_s'])} interleaved raw COPY / first import pairs",
        },
        "runs_s": {"raw_copy": [round(t, 2) for t in big["raw_runs_s"]],
                   "importer_first": [round(t, 2) for t in big["first_runs_s"]]},
        "seconds": {"raw_copy": round(raw[1], 2),
                    "importer_first": round(big["first"]["seconds"], 2),
                    "importer_reimport": round(big["reimport"]["seconds"], 2)},
        "rows_per_s": {
            "raw_copy": round(raw_rate),
            "importer_first": round(first_rate),
            "importer_reimport": round(big["reimport"]["rows"] / big["reimport"]["seconds"]),
        },
        "ratio_importer_first_over_raw_copy": round(first_rate / raw_rate, 3),
        "peak_rss_growth_mib": {
            f"{n}_rows": {"first": mib(r["first"]["peak_rss_growth_kib"]),
                          "reimport": mib(r["reimport"]["peak_rss_growth_kib"]),
                          "rss_before_import": mib(r["first"]["rss_before_kib"])}
            for n, r in sorted(runs.items())
        },
    }


def main(rows: int, repeat: int) -> None:
    data_dir = infra.claim_scratch_dir("nce-bench-")
    stack = None
    try:
        stack = infra.start(data_dir)
        url = stack.database_url
        sizes = sorted({max(1, rows // 4), rows})
        files = {n: data_dir / f"pricelist-{MARKET}-{n}.csv" for n in sizes}
        file_bytes = {n: write_pricelist(files[n], n) for n in sizes}
        for n in sizes:
            log(f"generated {files[n].name}: {file_bytes[n] / 1e6:.1f} MB, {file_bytes[n] / n:.1f} bytes/row")
        db = asyncio.run(database_conditions(url))
        runs = {n: importer_runs(url, files[n], n, repeat if n == rows else 0) for n in sizes}
        result = summary(rows, file_bytes[rows], db, stack.database_kind, runs)
    finally:
        if stack is not None:
            try:
                asyncio.run(drop_bench_schemas(stack.database_url))
            finally:
                stack.close()
        infra.remove_tree(data_dir)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the generated price list")
    parser.add_argument("--repeat", type=int, default=5, help="raw COPY / first import pairs (medians compared)")
    args = parser.parse_args()
    main(args.rows, args.repeat)

"""The price-list importer against generated malformed files, on a real PostgreSQL.

Each file is a few sample rows, some with a cell set to a value known to be invalid, known to be valid (the 1753 and
9999 open dates of domain.md §2.3, unicode titles) or just hostile, and some broken as a whole (truncated, a NUL or
bad UTF-8 byte, a row with a field too many, a BOM, CRLF, columns reordered, a required column missing, 1 MB cells).
The importer's documented behaviour, held for every file: every invalid row is reported as (line, reason) with its
line, a refused import stores and publishes nothing, and with `skip_invalid` only the valid rows are stored; besides,
what is stored reads back as valid price rows, and every event written is one the consumers can decode.
"""
import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import strategies as st

from services.pricing.importer import MAX_REPORTED, ImportRefusedError, import_pricelist
from shared.contracts.pricing import PriceRow
from shared.messaging.decode import Record, decode
from tests.conftest import migrated_pool
from tests.fuzz import TALLY
from tests.fuzz.hostile import SCALARS, generate, short

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[2] / "services" / "sample" / "pricelist-US.csv"
NOW = datetime(2026, 11, 21, tzinfo=UTC)
FILES = 900
HEADER, *ROWS = list(csv.reader(SAMPLE.open(newline="")))
# Cell values a row must be reported for, and values it must not be (the open dates 1753/9999 are valid, §2.3).
BAD = {
    "ProductId": ["", "cfq7ttc0lh18", "CFQ7TTC0LH1", "'; DROP TABLE price_rows; --", "CFQ7TTC0LH18 "],
    "SkuId": ["", "00001", "1'--", "ab"],
    "TermDuration": ["P2Y", "", "p1m", "P1M\u200b"],
    "BillingPlan": ["Weekly", "", "Monthly; DELETE FROM imports"],
    "Market": ["GB", "", "us"],
    "Currency": ["usd", "US", "EURO", ""],
    "UnitPrice": ["abc", "-1", "NaN", "Infinity", "1e400", "1000000000", "0.0000001", "", "1,5"],
    "PricingTierRangeMin": ["-1", "1.5", "99999999999999999999", "abc", "1000000000"],
    "PricingTierRangeMax": ["1000000000", "-5", "1e3", "0.5"],
    "EffectiveStartDate": ["2025-02-30", "13/1/2025", "infinity", "", "1/1/20000", "4713-01-01 BC"],
    "EffectiveEndDate": ["1/1/1752", "-infinity", "", "12/31/10000", "99999-12-31"],
    "ERP Price": ["-5", "x", "1e10"],
    "Tags": [";".join(["License"] * 21), "License;" + "x" * 101, "x" * 1_000_001],
    "EndofSaleDate": ["notadate", "infinity", "1/1/20000", "2/29/2025"],
}
GOOD = {
    "EffectiveStartDate": ["1/1/1753", "1753-01-01", "1/1/1753 12:00:00 AM"],
    "EffectiveEndDate": ["12/31/9999", "9999-12-31"],
    "UnitPrice": ["0", "999999999.999999", "0.000001"],
    "ProductTitle": ["Ωmega 365 — ß 😀", "'; DROP TABLE price_rows; --", "x" * 5000],
    "SkuTitle": ["\u202eevil", "Robert'); DROP TABLE customers;--"],
    "Tags": ["", "License;EndOfSale"],
    "Segment": ["Education", ""],
    "PricingTierRangeMax": ["999999999"],
}
WHOLE = ["none"] * 8 + ["bom", "crlf", "reorder", "truncate", "nul", "bad_utf8", "extra_field", "missing_field",
                        "drop_required", "duplicate_header", "megabyte_cell", "empty", "header_only", "blank_lines"]


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@st.composite
def price_list(draw: st.DrawFn) -> dict[str, Any]:
    picks = draw(st.lists(st.integers(0, len(ROWS) - 1), min_size=1, max_size=6, unique=True))
    rows, verdicts, changes = [list(ROWS[i]) for i in picks], [], []
    for row in rows:
        changed: dict[str, tuple[str, str]] = {}  # column → (kind, value): one change per column
        for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2]))):
            kind = draw(st.sampled_from(["bad", "bad", "good", "hostile"]))
            column = draw(st.sampled_from(sorted(BAD if kind == "bad" else GOOD) if kind != "hostile" else HEADER))
            values = BAD[column] if kind == "bad" else GOOD[column] if kind == "good" else None
            changed[column] = (kind, draw(st.sampled_from(values)) if values else as_text(draw(SCALARS)))
        for column, (_, value) in changed.items():
            row[HEADER.index(column)] = value
        kinds = {kind for kind, _ in changed.values()}
        if row[HEADER.index("BillingPlan")].lower() == "none" and "UnitPrice" in changed and \
                changed["UnitPrice"][0] == "good" and Decimal(changed["UnitPrice"][1]) != 0:
            kinds.add("bad")  # a price that is good, but not for a trial's row (BillingPlan None is free)
        verdicts.append("bad" if "bad" in kinds else "unknown" if "hostile" in kinds else "good")
        changes.append(changed)
    return {"header": list(HEADER), "rows": rows, "verdicts": verdicts, "changes": changes, "whole": draw(st.sampled_from(WHOLE)),
            "skip_invalid": draw(st.booleans()), "cut": draw(st.floats(0.05, 0.95)),
            "column": draw(st.integers(0, len(HEADER) - 1))}


def render(f: dict[str, Any]) -> tuple[bytes, bool]:
    """The file's bytes, and whether its rows are still on their own lines as generated (lines 2, 3, …)."""
    header, rows, whole, column = f["header"], [list(r) for r in f["rows"]], f["whole"], f["column"]
    if whole == "reorder":
        order = list(reversed(range(len(header))))
        header, rows = [header[i] for i in order], [[r[i] for i in order] for r in rows]
    elif whole == "drop_required":
        drop = header.index("UnitPrice")
        header, rows = header[:drop] + header[drop + 1:], [r[:drop] + r[drop + 1:] for r in rows]
    elif whole == "duplicate_header":
        header = header[:-1] + ["ProductId"]
    elif whole == "extra_field":
        rows[-1].append("surplus")
    elif whole == "missing_field":
        rows[-1] = rows[-1][:-3]
    elif whole == "megabyte_cell":
        rows[0][column] = "x" * 1_000_001
    elif whole == "empty":
        header, rows = [], []
    elif whole == "header_only":
        rows = []
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if whole == "crlf" else "\n").writerows([header, *rows] if header else [])
    data = out.getvalue().encode("utf-8", "surrogatepass")
    if whole == "bom":
        data = b"\xef\xbb\xbf" + data
    elif whole == "truncate":
        data = data[: int(len(data) * f["cut"])]
    elif whole in ("nul", "bad_utf8"):
        at = int(len(data) * f["cut"])
        data = data[:at] + (b"\x00" if whole == "nul" else b"\xff\xfe") + data[at:]
    elif whole == "blank_lines":
        data = data.replace(b"\n", b"\n\n", 1)
    # a line break inside a quoted cell shifts the line numbers after it (documented in the importer)
    one_line_rows = not any("\n" in cell or "\r" in cell for row in rows for cell in row)
    return data, one_line_rows and whole in ("none", "bom", "crlf", "reorder", "extra_field", "missing_field",
                                             "megabyte_cell")


async def state(pool: asyncpg.Pool) -> list[str]:
    return list(await pool.fetchval(
        "SELECT ARRAY[" + ", ".join(f"(SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM {t} t)"
                                    for t in ("price_rows", "imports", "outbox")) + "]"))


async def test_every_malformed_price_list_row_is_reported_by_line_and_nothing_stored_is_corrupted(stack,
                                                                                                  tmp_path: Path):
    pool = await migrated_pool(stack, "pricing")
    try:
        await import_pricelist(pool, SAMPLE, "US", NOW)  # what is already stored, for bad files to leave intact
        files = generate(price_list(), FILES)
        path, buckets, problems, reported = tmp_path / "pricelist.csv", Counter[str](), [], 0
        mark = await pool.fetchval("SELECT max(id) FROM outbox")
        for f in files:
            data, lines_kept = render(f)
            path.write_bytes(data)
            before = await state(pool)
            try:
                report = await import_pricelist(pool, path, "US", NOW, skip_invalid=f["skip_invalid"])
            except ImportRefusedError as refused:
                report = refused.report
            except Exception as e:  # noqa: BLE001 - a crash is reported with its file
                problems.append(f"crash {type(e).__name__}: {short(e)} on {f['whole']}: {short(data)}")
                continue
            wrong = check(f, data, lines_kept, report)
            after = await state(pool)
            if not report.stored and after != before:
                wrong.append("refused, yet something was stored or published")
            new = await pool.fetch("SELECT id, topic, key, payload FROM outbox WHERE id > $1 ORDER BY id", mark)
            mark = max([mark, *(r["id"] for r in new)])
            for r in new:  # what the consumers of pricing.events will read
                try:
                    decode(Record(r["topic"], 0, 0, r["key"], bytes(r["payload"])), 1_000_000)
                except Exception as e:  # noqa: BLE001
                    wrong.append(f"published an event its consumers cannot read: {short(e)}")
            buckets["stored" if report.stored else "refused"] += 1
            reported += len(report.errors)
            if wrong:
                problems.append(f"{'; '.join(wrong)} — {f['whole']}, skip_invalid={f['skip_invalid']}, "
                                f"verdicts {f['verdicts']}, report {report.errors[:5]}: {short(data, 600)}")
        for row in await pool.fetch("SELECT * FROM price_rows"):  # everything stored reads back as a price row
            try:
                PriceRow.model_validate(dict(row))
            except Exception as e:  # noqa: BLE001
                problems.append(f"stored row is not a valid price row: {short(e)}: {short(dict(row))}")
        TALLY["pricelist files"] = buckets
        print(f"\nprice lists: {len(files)} files: {dict(buckets)}, {reported} invalid rows reported by line")
        assert len(files) >= FILES * 0.9
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:20])
    finally:
        await pool.close()


def check(f: dict[str, Any], data: bytes, lines_kept: bool, report: Any) -> list[str]:
    """What the report of one file gets wrong against the importer's documented behaviour."""
    wrong = []
    last_line = data.count(b"\n") + 1
    if any(not (1 <= line <= last_line) or not reason for line, reason in report.errors):
        wrong.append(f"a reported line is outside the file's {last_line} lines or has no reason")
    if report.stored and report.invalid and not f["skip_invalid"]:
        wrong.append("stored although rows were invalid")
    if not report.stored and not report.errors:
        wrong.append("refused without a reason")
    reported = {line for line, _ in report.errors}
    if f["whole"] in ("nul", "bad_utf8"):  # refused whole, naming the line the byte is on
        line = data[: data.index(b"\x00" if f["whole"] == "nul" else b"\xff\xfe")].count(b"\n") + 1
        if report.stored or line not in reported:
            wrong.append(f"a NUL or bad UTF-8 byte on line {line}: not refused with that line")
    elif any(reason.startswith("not a well-formed CSV") for _, reason in report.errors):
        if report.stored:  # refused whole (a row with a value that does not parse may be reported before that)
            wrong.append("stored a file that is not well-formed CSV")
    elif f["whole"] in ("extra_field", "missing_field") and len(f["rows"]) + 1 not in reported:
        wrong.append(f"line {len(f['rows']) + 1} has a field too many or too few but is not reported")
    elif lines_kept and f["whole"] not in ("extra_field", "missing_field") and len(report.errors) < MAX_REPORTED:
        verdicts = ["unknown" if f["whole"] == "megabyte_cell" and n == 0 else v for n, v in enumerate(f["verdicts"])]
        for n, verdict in enumerate(verdicts, start=2):
            if verdict == "bad" and n not in reported:
                wrong.append(f"line {n} is invalid but not reported: {f['changes'][n - 2]}")
            if verdict == "good" and n in reported:
                wrong.append(f"line {n} ({f['changes'][n - 2]}) is valid but reported: "
                             f"{[r for ln, r in report.errors if ln == n]}")
    return wrong

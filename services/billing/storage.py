"""Billing's own tables: plans (each subscription's current term), charge lines, invoices."""
import functools
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from shared.http import row_json

from services.billing.domain.charges import Line, Plan

_FILTERS = ("subscription_id", "customer_id", "partner_id")
PLAN_FIELDS = ("subscription_id", "partner_id", "customer_id", "catalog_item_id", "term_duration", "billing_cycle",
               "anchor", "term_start", "term_end", "unit_price", "effective_unit_price", "currency", "promotion_id",
               "quantity", "status", "auto_renew", "billing_currency", "full_price_seats", "since")


@functools.cache
def _upsert_plan(first: int) -> str:
    """The plan upsert, its values numbered from `$first` in PLAN_FIELDS' order."""
    marks = ", ".join(f"${i}" for i in range(first, first + len(PLAN_FIELDS)))
    return f"""INSERT INTO plans ({", ".join(PLAN_FIELDS)}) VALUES ({marks}) ON CONFLICT (subscription_id) DO UPDATE
            SET {", ".join(f"{f} = EXCLUDED.{f}" for f in PLAN_FIELDS[1:])}"""


async def save_plan(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    await conn.execute(_upsert_plan(1), *(values[f] for f in PLAN_FIELDS))


async def update_plan(conn: asyncpg.Connection, subscription_id: str, changes: dict[str, Any]) -> None:
    """Set some of a plan's fields (nothing when billing has no plan of that subscription), in one statement."""
    names = sorted(changes)
    if not set(names) <= set(PLAN_FIELDS[1:]):
        raise ValueError(f"not a plan's field: {sorted(set(names) - set(PLAN_FIELDS[1:]))}")
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, 2))
    await conn.execute(f"UPDATE plans SET {sets} WHERE subscription_id = $1", subscription_id,
                       *(changes[n] for n in names))


async def plan(conn: asyncpg.Connection, subscription_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM plans WHERE subscription_id = $1 FOR UPDATE", subscription_id)
    return dict(row) if row else None


def as_plan(row: dict[str, Any], fx_rate: Decimal = Decimal(1)) -> Plan:
    return Plan(row["term_duration"], row["billing_cycle"], row["anchor"], row["term_end"], row["unit_price"],
                row["effective_unit_price"], fx_rate, row["promotion_id"])


class MissingFxRateError(Exception):
    """No rate to convert a price into the partner's currency: the message waits in the DLQ until one is imported."""


async def fx_rate(db: asyncpg.Connection | asyncpg.Pool, source: str, target: str, day: date) -> Decimal:
    """The rate of `day`'s month, else the latest earlier month's (rates are published monthly, §2.1)."""
    if source == target:
        return Decimal(1)
    rate = await db.fetchval(
        """SELECT rate FROM fx_rates WHERE from_currency = $1 AND to_currency = $2 AND month <= $3
           ORDER BY month DESC LIMIT 1""", source, target, day.replace(day=1))
    if rate is None:
        raise MissingFxRateError(f"no FX rate {source} to {target} for {day:%Y-%m} or earlier: import one with "
                                 "`nce fx import`")
    return rate


async def priced(db: asyncpg.Connection | asyncpg.Pool, row: dict[str, Any], day: date) -> Plan:
    """The plan with its prices converted at `day`'s rate into the partner's currency."""
    return as_plan(row, await fx_rate(db, row["currency"], row["billing_currency"], day))


async def save_fx_rates(conn: asyncpg.Connection, rates: list[tuple[str, str, date, Decimal]]) -> None:
    await conn.executemany(
        """INSERT INTO fx_rates VALUES ($1, $2, $3, $4)
           ON CONFLICT (from_currency, to_currency, month) DO UPDATE SET rate = EXCLUDED.rate""", rates)


# A line's invoice month (§4.4): its order date's month ($n), or the first month after the last closed one when that
# month has closed already (a closed invoice never changes).
_INVOICE_MONTH = """(SELECT CASE WHEN max(month) IS NULL OR {m} > max(month) THEN {m}
                            ELSE (max(month) + interval '1 month')::date END FROM closed_months)"""


async def cycle_charged(conn: asyncpg.Connection, subscription_id: str, start: date) -> bool:
    """Whether the subscription's cycle starting on `start` has its `cycleCharge` lines."""
    return await conn.fetchval("""SELECT EXISTS (SELECT FROM charge_lines WHERE subscription_id = $1
                                  AND order_date = $2 AND charge_type = 'cycleCharge')""", subscription_id, start)


Entry = tuple[str, Line, dict[str, Any], str, date]  # line id, line, its subscription's plan, reference id, order date


async def insert_lines(conn: asyncpg.Connection, entries: list[Entry], *, now: datetime,
                       saving_plan: bool = False) -> list[dict[str, Any] | None]:
    """Store each charge line once, with its invoice month, in one round trip: the stored lines, None for one that
    was already there. `saving_plan`: store each line's subscription as its plan too, in the line's statement (as
    save_plan)."""
    statements = [_line_statement(entry, now, saving_plan) for entry in entries]
    if not statements:
        return []
    stored = {r["line_id"]: r["invoice_month"] for r in await conn.fetchmany(statements[0][0],
                                                                              [args for _, args, _ in statements])}
    return [{**fields, "invoice_month": stored[fields["line_id"]]} if fields["line_id"] in stored else None
            for _, _, fields in statements]


def _line_statement(entry: Entry, now: datetime, saving_plan: bool) -> tuple[str, list[Any], dict[str, Any]]:
    line_id, line, sub, reference_id, order_date = entry
    fields = {
        "line_id": line_id, **vars(line), **{k: sub[k] for k in (  # vars: asdict would deep-copy each value
            "subscription_id", "customer_id", "partner_id", "catalog_item_id", "term_start", "term_end",
            "billing_cycle")},
        "currency": sub["billing_currency"], "pricing_currency": sub["currency"], "reference_id": reference_id,
        "order_date": order_date, "created_at": now,
    }
    args = [*fields.values(), order_date.replace(day=1)]
    marks = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
    sql = (f"INSERT INTO charge_lines ({', '.join(fields)}, invoice_month)"
           f" VALUES ({marks}, {_INVOICE_MONTH.format(m=f'${len(args)}::date')})"
           " ON CONFLICT DO NOTHING RETURNING line_id, invoice_month")
    if saving_plan:  # a data-modifying WITH runs whether or not the INSERT after it reads it
        sql = f"WITH saved_plan AS ({_upsert_plan(len(args) + 1)}) {sql}"
        args += [sub[f] for f in PLAN_FIELDS]
    return sql, args, fields


PAGE = 100_000  # charge lines in one answer; a longer list goes on from the position the answer names

Position = tuple[date, int]  # a line's place in order-date order: (order date, seq)


async def lines(pool: asyncpg.Pool, filters: dict[str, str], month: date | None,
                after: Position | None = None) -> tuple[list[dict[str, Any]], Position | None]:
    """Up to PAGE lines in order-date order, after `after` when given; and the position to go on from when more
    follow (None: these were the last)."""
    where, args = [], []
    for name in _FILTERS:
        if name in filters:
            args.append(filters[name])
            where.append(f"{name} = ${len(args)}")
    if month is not None:
        args.append(month)
        where.append(f"invoice_month = ${len(args)}")
    if after is not None:
        args += after
        where.append(f"(order_date, seq) > (${len(args) - 1}, ${len(args)})")
    sql = "SELECT * FROM charge_lines" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await pool.fetch(sql + f" ORDER BY order_date, seq LIMIT {PAGE + 1}", *args)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return ([{k: v for k, v in row_json(r).items() if k != "seq"} for r in rows],
            (rows[-1]["order_date"], rows[-1]["seq"]) if more else None)


async def month_totals(pool: asyncpg.Pool, partner_id: str, month: date) -> tuple[dict[str, str], int]:
    """A partner's month so far: its lines' amounts summed per currency, and how many lines (as an invoice sums
    them when the month closes)."""
    rows = await pool.fetch("""SELECT currency, sum(amount)::text AS total, count(*) AS n FROM charge_lines
                               WHERE partner_id = $1 AND invoice_month = $2 GROUP BY currency""", partner_id, month)
    return {r["currency"]: r["total"] for r in rows}, sum(r["n"] for r in rows)


async def close_month(conn: asyncpg.Connection, month: date, now: datetime) -> list[dict[str, Any]]:
    """Close `month` for every partner with lines in it: number, totals per currency; the invoices issued now.
    In the caller's transaction, which first waits for every line being written to commit and holds off new ones
    until it commits: a line is either on the closing month's invoice or, written after, in the next month."""
    await conn.fetch("LOCK TABLE charge_lines IN SHARE MODE")  # a read: run now, not deferred to the COMMIT
    if not await conn.fetchval(
            "INSERT INTO closed_months VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true", month, now):
        return []
    rows = await conn.fetch(
        """INSERT INTO invoices (partner_id, month, invoice_number, totals, lines, issued_at)
           SELECT partner_id, $1, 'NCE-' || to_char($1::date, 'YYYYMM') || '-' || partner_id,
                  jsonb_object_agg(currency, total), sum(n), $2
           FROM (SELECT partner_id, currency, sum(amount)::text AS total, count(*) AS n FROM charge_lines
                 WHERE invoice_month = $1 GROUP BY partner_id, currency) t
           GROUP BY partner_id
           RETURNING *""",
        month, now,
    )
    return [{**r, "totals": json.loads(r["totals"])} for r in rows]


async def active_plans(pool: asyncpg.Pool, partner_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM plans WHERE partner_id = $1 AND status IN ('active', 'suspended')"
                            " ORDER BY subscription_id", partner_id)
    return [dict(r) for r in rows]


async def invoice(pool: asyncpg.Pool, partner_id: str, month: date) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM invoices WHERE partner_id = $1 AND month = $2", partner_id, month)
    return {**row_json(row), "totals": json.loads(row["totals"]), "status": "issued"} if row else None


async def summary(pool: asyncpg.Pool, partner_id: str | None, today: date, months: int) -> dict[str, Any]:
    """Per partner the amounts billed but not yet on an issued invoice and its last three invoices; and the
    lines' totals per invoice month over the last `months` months (the revenue chart)."""
    scope, args = ("", []) if partner_id is None else (" AND l.partner_id = $1", [partner_id])
    unbilled = await pool.fetch(
        "SELECT l.partner_id, l.currency, sum(l.amount)::text AS total, count(*) AS lines,"
        " min(l.invoice_month) AS since FROM charge_lines l LEFT JOIN invoices i"
        " ON i.partner_id = l.partner_id AND i.month = l.invoice_month WHERE i.month IS NULL" + scope
        + " GROUP BY 1, 2 ORDER BY 1, 2", *args)
    issued = await pool.fetch(
        "SELECT * FROM (SELECT l.*, row_number() OVER (PARTITION BY partner_id ORDER BY month DESC) AS k"
        " FROM invoices l WHERE true" + scope + ") t WHERE k <= 3 ORDER BY partner_id, month DESC", *args)
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    revenue = await pool.fetch(
        "SELECT to_char(l.invoice_month, 'YYYY-MM') AS month, l.currency, sum(l.amount)::text AS total"
        f" FROM charge_lines l WHERE l.invoice_month >= ${len(args) + 1}" + scope + " GROUP BY 1, 2 ORDER BY 1, 2",
        *args, first)
    partners: dict[str, dict[str, Any]] = {}
    for r in unbilled:
        p = partners.setdefault(r["partner_id"], {"partner_id": r["partner_id"], "unbilled": {}, "last_invoices": []})
        p["unbilled"][r["currency"]] = r["total"]
    for r in issued:
        p = partners.setdefault(r["partner_id"], {"partner_id": r["partner_id"], "unbilled": {}, "last_invoices": []})
        p["last_invoices"].append({"month": f"{r['month']:%Y-%m}", "invoice_number": r["invoice_number"],
                                   "totals": json.loads(r["totals"]), "lines": r["lines"],
                                   "issued_at": r["issued_at"].isoformat()})
    return {"partners": sorted(partners.values(), key=lambda p: p["partner_id"]),
            "revenue": [dict(r) for r in revenue], "months": months}

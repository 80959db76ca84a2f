"""A partner month longer than one answer: the invoice's totals and count cover every line, the lines go on page by
page from the position each answer names, and the reconciliation file holds them all."""
import csv
import io
from datetime import date
from decimal import Decimal

import httpx
import pytest

from services.billing import storage
from services.billing.app import SERVICE as BILLING
from services.billing.domain.charges import charge
from shared.clock import SimulatedClock
from shared.runtime import Runtime, build_app
from tests.conftest import OPERATOR, migrated_pool
from tests.integration.test_billing_plans import NOW, plan

pytestmark = pytest.mark.integration
MANY = 100_001  # one more than an answer holds


async def test_a_month_of_more_lines_than_one_answer_holds_is_totalled_paged_and_exported_whole(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "billing")
    day = date(2026, 1, 20)
    line = charge(storage.as_plan(plan("S1")), "new", day, 1)
    rt = Runtime(settings=stack.service_settings("billing"), clock=SimulatedClock(NOW), pool=pool)
    try:
        async with pool.acquire() as conn:
            await storage.insert_lines(conn, [("L0", line, plan("S1"), "R0", day)], now=NOW)
            columns = [c for c in await conn.fetchval(
                "SELECT array_agg(column_name::text) FROM information_schema.columns WHERE table_name = 'charge_lines'"
                " AND table_schema = current_schema()") if c not in ("line_id", "seq")]
            await conn.execute(f"""INSERT INTO charge_lines (line_id, {', '.join(columns)})
                                   SELECT 'L' || g, {', '.join(columns)} FROM charge_lines, generate_series(1, $1) g
                                   WHERE line_id = 'L0'""", MANY - 1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app(BILLING, rt)), base_url="http://nce",
                                     headers=OPERATOR, timeout=120) as client:
            invoice = (await client.get("/billing/invoices/P1/2026-01")).json()
            rest = (await client.get("/billing/lines", params={
                "partner_id": "P1", "month": "2026-01", "after": invoice.get("next", "")})).json()
            bad = await client.get("/billing/lines", params={"partner_id": "P1", "after": "2026-01-20.x"})
            exported = (await client.get("/billing/invoices/P1/2026-01/reconciliation.csv")).text
    finally:
        await pool.close()
    assert (invoice["status"], invoice["line_count"], invoice["totals"]) == \
        ("open", MANY, {"USD": str(line.amount * MANY)})
    assert len(invoice["lines"]) == MANY - 1 and len(rest["lines"]) == 1 and "next" not in rest
    ids = {item["line_id"] for item in invoice["lines"]} | {item["line_id"] for item in rest["lines"]}
    assert len(ids) == MANY
    assert bad.status_code == 400 and "after" in bad.json()["error"]
    rows = list(csv.reader(io.StringIO(exported)))
    assert len(rows) == 1 + MANY and rows[0][12] == "Subtotal"
    assert sum(Decimal(r[12]) for r in rows[1:]) == line.amount * MANY


async def test_an_invoice_open_or_issued_shows_its_lines_their_count_and_totals_per_currency(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "billing")
    day = date(2026, 1, 20)
    line = charge(storage.as_plan(plan("S1")), "new", day, 1)
    rt = Runtime(settings=stack.service_settings("billing"), clock=SimulatedClock(NOW), pool=pool)
    try:
        async with pool.acquire() as conn:
            await storage.insert_lines(conn, [(f"L{i}", line, plan("S1"), f"R{i}", day) for i in range(3)], now=NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app(BILLING, rt)), base_url="http://nce",
                                     headers=OPERATOR) as client:
            shown = [(await client.get("/billing/invoices/P1/2026-01")).json()]
            async with pool.acquire() as conn, conn.transaction():
                await storage.close_month(conn, date(2026, 1, 1), NOW)
            shown.append((await client.get("/billing/invoices/P1/2026-01")).json())
    finally:
        await pool.close()
    assert [i["status"] for i in shown] == ["open", "issued"]
    for invoice in shown:
        assert (invoice["month"], invoice["line_count"], invoice["totals"]) == ("2026-01", 3, {"USD": str(line.amount * 3)})
        assert [item["line_id"] for item in invoice["lines"]] == ["L0", "L1", "L2"]
        assert "line_items" not in invoice and "next" not in invoice

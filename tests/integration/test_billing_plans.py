"""Billing's plan bookkeeping in the statements its handlers use: a status or auto-renew change touches only those
fields of one plan, a seat change's or cancellation's plan is saved with its charge lines in one round trip, and a
month's close and the lines written meanwhile never miss each other."""
import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.billing import storage
from services.billing.domain.charges import charge, quantity_change
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 20, tzinfo=UTC)


def plan(subscription_id: str, **changes: Any) -> dict[str, Any]:
    return {"subscription_id": subscription_id, "partner_id": "P1", "customer_id": "C1",
            "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "term_duration": "P1M", "billing_cycle": "monthly",
            "anchor": date(2026, 1, 1), "term_start": date(2026, 1, 1), "term_end": date(2026, 1, 31),
            "unit_price": Decimal("10.000000"), "effective_unit_price": Decimal("10.000000000000"), "currency": "USD",
            "promotion_id": None, "quantity": 3, "status": "active", "auto_renew": True, "billing_currency": "USD",
            "full_price_seats": 0, "since": date(2026, 1, 1), **changes}


async def test_a_plan_update_sets_only_the_named_fields_of_that_plan(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "billing")
    try:
        async with pool.acquire() as conn:
            for s in ("S1", "S2"):
                await storage.save_plan(conn, plan(s))
            await storage.update_plan(conn, "S1", {"status": "suspended", "auto_renew": False})
            await storage.update_plan(conn, "S9", {"status": "deleted"})  # no plan: nothing to do, nothing made
            with pytest.raises(ValueError, match="subscription_id"):
                await storage.update_plan(conn, "S2", {"subscription_id": "S3"})
            plans = {r["subscription_id"]: dict(r) for r in await conn.fetch("SELECT * FROM plans")}
    finally:
        await pool.close()
    assert set(plans) == {"S1", "S2"}
    assert plans["S1"] == plan("S1", status="suspended", auto_renew=False)
    assert plans["S2"] == plan("S2")


async def test_a_seat_change_saves_its_plan_with_its_lines(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "billing")
    day = date(2026, 1, 20)
    try:
        async with pool.acquire() as conn:
            await storage.save_plan(conn, plan("S1"))
            old = plan("S1")
            changed = {**old, "quantity": 5}
            lines = quantity_change(storage.as_plan(old), day, 3, 5)
            entries = [(f"L{i}", line, changed, "R1", day) for i, line in enumerate(lines)]
            stored = await storage.insert_lines(conn, entries, now=NOW, saving_plan=True)
            again = await storage.insert_lines(conn, entries, now=NOW, saving_plan=True)  # a redelivery adds nothing
            refund = charge(storage.as_plan(changed), "cancelImmediate", day, 5, -1)
            await storage.insert_lines(conn, [("L9", refund, {**changed, "status": "deleted"}, "R2", day)], now=NOW,
                                       saving_plan=True)
            saved = dict(await conn.fetchrow("SELECT * FROM plans WHERE subscription_id = 'S1'"))
            amounts = [r["amount"] for r in await conn.fetch("SELECT amount FROM charge_lines ORDER BY line_id")]
    finally:
        await pool.close()
    assert [s is not None for s in stored] == [True, True] and again == [None, None]
    assert [line.amount for line in lines] == amounts[:2] and amounts[0] < 0 < amounts[1]
    assert amounts[2] == refund.amount < 0
    assert saved == plan("S1", quantity=5, status="deleted")


async def test_a_month_closing_while_a_line_is_written_into_it_never_leaves_that_line_off_its_invoice(stack) -> None:  # type: ignore[no-untyped-def]
    """The close waits for a line being written into the month; a line written while the close runs goes into the
    month after (a closed invoice never changes): either way every line is on exactly one invoice's totals."""
    pool = await migrated_pool(stack, "billing")
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)

    def entry(line_id: str, day: date) -> storage.Entry:
        return (line_id, charge(storage.as_plan(plan("S1")), "new", day, 1), plan("S1"), line_id, day)

    async def close(conn: Any, month: date) -> list[dict[str, Any]]:
        async with conn.transaction():  # as the handler of scheduler.month_ended runs it
            return await storage.close_month(conn, month, NOW)

    try:
        async with pool.acquire() as writer, pool.acquire() as closer:
            # a line written into January, its transaction still open, when January closes
            writing = writer.transaction()
            await writing.start()
            first = entry("L1", date(2026, 1, 20))
            assert (await storage.insert_lines(writer, [first], now=NOW))[0] is not None
            closing = asyncio.create_task(close(closer, jan))
            await asyncio.sleep(0.5)
            assert not closing.done(), "the close waits for the line being written"
            await writing.commit()
            january = await closing
            # January's close still open when a January line is written: the line waits, then goes to February
            closing_tx = closer.transaction()
            await closing_tx.start()
            await storage.close_month(closer, date(2025, 12, 1), NOW)  # holds the close's lock, not committed
            late = asyncio.create_task(storage.insert_lines(writer, [entry("L2", date(2026, 1, 25))], now=NOW))
            await asyncio.sleep(0.5)
            assert not late.done(), "a line waits for a close in progress"
            await closing_tx.commit()
            stored = await late
    finally:
        await pool.close()
    assert [(i["month"], i["totals"], i["lines"]) for i in january] == [(jan, {"USD": str(first[1].amount)}, 1)]
    assert stored[0] is not None and stored[0]["invoice_month"] == feb

"""The scheduler's timer bookkeeping: clearing one subscription's cycle timers, and by an index."""
import json
from datetime import UTC, date, datetime

import pytest

from services.scheduler.storage import CANCEL_TIMERS_OF, cancel_timers_of, set_timers
from shared.contracts.scheduler import ChargeCycleStarted
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 15, tzinfo=UTC)


def cycle(subscription_id: str, start: date) -> tuple:  # type: ignore[type-arg]
    instant = datetime(start.year, start.month, start.day, tzinfo=UTC)
    event = ChargeCycleStarted(subscription_id=subscription_id, customer_id="C1", cycle_start=start,
                               term_end=date(2026, 12, 31), instant=instant)
    return "cycle", f"{subscription_id}@{start}", instant, "C1", event, "scheduler.charge_cycle_started"


async def test_clearing_a_subscriptions_cycle_timers_takes_exactly_its_own_by_an_index(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "scheduler")
    try:
        async with pool.acquire() as conn:
            # S1_ would match a LIKE pattern built from "S1"; S10 and S1. share its first characters
            others = ["S10", "S1_", "S1.", "S"]
            await set_timers(conn, [cycle(s, date(2026, m, 1)) for s in ["S1", *others] for m in (2, 3)], NOW)
            await cancel_timers_of(conn, "cycle", "S1")
            left = {r["key"] for r in await conn.fetch("SELECT key FROM timers")}
            await conn.execute("SET enable_seqscan = off")  # a table this small would be scanned whole anyway
            plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {CANCEL_TIMERS_OF}", "cycle", "S1"))
            await conn.execute("RESET enable_seqscan")
    finally:
        await pool.close()
    assert left == {f"{s}@2026-0{m}-01" for s in others for m in (2, 3)}
    scan = plan[0]["Plan"]["Plans"][0]
    assert "key" in scan.get("Index Cond", "")  # the key prefix bounds an index scan, not a filter over every timer

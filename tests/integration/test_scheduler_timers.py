"""The scheduler's timer bookkeeping: a term's timers set in one statement, a subscription's term end and cycle timers
cleared exactly and by an index, a month end always armed."""
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.scheduler import storage
from services.scheduler.app import SERVICE as SCHEDULER
from shared.clock import SimulatedClock
from shared.contracts.envelope import OPERATOR, new_envelope
from shared.contracts.scheduler import ChargeCycleStarted, TermEnded
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 15, tzinfo=UTC)
# S1_ would match a LIKE pattern built from "S1"; S10 and S1. share its first characters; S1@x's cycle keys begin
# with "S1@" (an id may contain "@")
OTHERS = ["S10", "S1_", "S1.", "S", "S1@x"]


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def cycle(subscription_id: str, start: date) -> storage.Timer:
    event = ChargeCycleStarted(subscription_id=subscription_id, customer_id="C1", cycle_start=start,
                               term_end=date(2026, 12, 31), instant=at(start))
    return "cycle", f"{subscription_id}@{start}", at(start), "C1", event, "scheduler.charge_cycle_started"


def term_end(subscription_id: str, end: date) -> storage.Timer:
    event = TermEnded(subscription_id=subscription_id, customer_id="C1", term_end=end, instant=at(end))
    return "term_end", subscription_id, at(end), "C1", event, "scheduler.term_ended"


def index_conditions(plan: dict[str, Any]) -> Iterator[str]:
    if "Index Cond" in plan:
        yield plan["Index Cond"]
    for child in plan.get("Plans", []):
        yield from index_conditions(child)


async def test_a_term_is_timed_in_one_statement_replacing_its_cycle_timers_only(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "scheduler")
    try:
        async with pool.acquire() as conn:
            for timer in [term_end("S1", date(2026, 1, 31)), storage.month_end(date(2026, 2, 1)),
                          *(cycle(s, date(2026, m, 1)) for s in ["S1", *OTHERS] for m in (2, 3))]:
                await storage.set_timer(conn, *timer, NOW)
            # the term moved: it ends in April, its cycles start in March and April
            await storage.time_terms(conn, [("S1", [term_end("S1", date(2026, 4, 30)), cycle("S1", date(2026, 3, 1)),
                                                    cycle("S1", date(2026, 4, 1))])], NOW)
            timers = {(r["kind"], r["key"]): r["due_at"] for r in await conn.fetch("SELECT * FROM timers")}
    finally:
        await pool.close()
    assert timers == {
        ("term_end", "S1"): at(date(2026, 4, 30)),  # moved
        ("cycle", "S1@2026-03-01"): at(date(2026, 3, 1)), ("cycle", "S1@2026-04-01"): at(date(2026, 4, 1)),
        ("month_end", "2026-02"): at(date(2026, 3, 1)),  # no term's business
        **{("cycle", f"{s}@2026-0{m}-01"): at(date(2026, m, 1)) for s in OTHERS for m in (2, 3)},
    }


async def test_a_subscriptions_term_timers_are_cleared_exactly_and_by_an_index(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "scheduler")
    try:
        async with pool.acquire() as conn:
            for s in ["S1", *OTHERS]:
                await storage.set_timer(conn, *term_end(s, date(2026, 3, 31)), NOW)
                for m in (2, 3):
                    await storage.set_timer(conn, *cycle(s, date(2026, m, 1)), NOW)
            await storage.cancel_term(conn, "S1")
            left = {(r["kind"], r["key"]) for r in await conn.fetch("SELECT kind, key FROM timers")}
            await conn.execute("SET enable_seqscan = off")  # a table this small would be read whole anyway
            plans = [json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))[0]["Plan"]
                     for sql, args in [(storage.CANCEL_TERM, ("S1",)),
                                       (storage._TIME_TERM, ("S1", *[[]] * 8, NOW))]]
            await conn.execute("RESET enable_seqscan")
    finally:
        await pool.close()
    assert left == {("term_end", s) for s in OTHERS} | {("cycle", f"{s}@2026-0{m}-01") for s in OTHERS for m in (2, 3)}
    for plan in plans:  # the key prefix bounds an index scan, not a filter over every cycle timer
        assert any("key" in condition for condition in index_conditions(plan))


async def test_a_month_end_is_always_armed_and_firing_one_arms_the_next(stack) -> None:  # type: ignore[no-untyped-def]
    """Every month closes, whatever was charged in it: the scheduler arms its clock's month, each month end fired
    arms the next, and a scheduler catching up fires each month in turn."""
    pool = await migrated_pool(stack, "scheduler")
    try:
        await storage.arm_month_end(pool, NOW)
        await storage.arm_month_end(pool, NOW)  # armed already: nothing more
        armed = await pool.fetch("SELECT key, due_at FROM timers WHERE kind = 'month_end'")
        late = datetime(2026, 3, 15, tzinfo=UTC)  # two month ends behind
        fired = [await storage.fire_due(pool, late) for _ in range(3)]
        months = [json.loads(r["payload"])["data"]["month"] for r in await pool.fetch(
            "SELECT payload FROM outbox WHERE topic = 'nce.scheduler.events' ORDER BY id")]
        left = await pool.fetch("SELECT key, due_at FROM timers WHERE kind = 'month_end'")
    finally:
        await pool.close()
    assert [(r["key"], r["due_at"]) for r in armed] == [("2026-01", at(date(2026, 2, 1)))]
    assert fired == [1, 1, 0] and months == ["2026-01", "2026-02"]
    assert [(r["key"], r["due_at"]) for r in left] == [("2026-03", at(date(2026, 4, 1)))]


async def test_a_scopes_end_of_life_is_timed_beside_its_end_of_sale_and_active_withdraws_both(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "scheduler")
    consumer = Consumer(SCHEDULER.handlers, pool, SimulatedClock(NOW), max_bytes=1_000_000, max_backoff_s=0.01)
    scope = {"product_id": "CFQ7TTC0LH18", "sku_id": "0001", "market": "US"}

    async def announce(offset: int, state: str, day: str) -> list[tuple[str, datetime]]:
        env = new_envelope(id=uuid.uuid4(), type="catalog.eos_changed", data={
            **scope, "state": state, "effective_date": day}, occurred_at=NOW, source="catalog", actor=OPERATOR)
        await consumer.handle(Record("nce.catalog.events", 0, offset, b"CFQ7TTC0LH18", env.to_bytes()))
        return [(r["key"], r["due_at"]) for r in await pool.fetch(
            "SELECT key, due_at FROM timers WHERE kind = 'eos' ORDER BY due_at")]

    try:
        eos = await announce(0, "EndOfSale", "2026-03-01")
        both = await announce(1, "EndOfLife", "2026-09-01")
        withdrawn = await announce(2, "Active", "2026-02-01")
    finally:
        await pool.close()
    assert eos == [("CFQ7TTC0LH18:0001:US:*:*", at(date(2026, 3, 1)))]
    assert both == [*eos, ("CFQ7TTC0LH18:0001:US:*:*:EndOfLife", at(date(2026, 9, 1)))]
    assert withdrawn == []

"""One scheduler instance alone: a single firing round reaches every bucket (none waits for the next idle tick)."""
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from services.scheduler.storage import BUCKETS, bucket_of, fire_due, month_end, set_timer
from shared.contracts.scheduler import ChargeCycleStarted, TermEnded
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
DUE = datetime(2026, 2, 1, tzinfo=UTC)


def customers_one_per_bucket() -> list[str]:
    found: dict[int, str] = {}
    i = 0
    while len(found) < BUCKETS:
        found.setdefault(bucket_of(f"C{i}"), f"C{i}")
        i += 1
    return list(found.values())


async def test_one_instance_fires_every_bucket_in_one_round(stack) -> None:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "scheduler")
    try:
        customers = customers_one_per_bucket()
        async with pool.acquire() as conn:
            for c in customers:
                event = TermEnded(subscription_id=f"S-{c}", customer_id=c, term_end=date(2026, 1, 31), instant=DUE)
                await set_timer(conn, "term_end", f"S-{c}", DUE, c, event, "scheduler.term_ended", DUE)
        assert await fire_due(pool, DUE) == BUCKETS
        assert await pool.fetchval("SELECT count(*) FROM timers") == 0
        keys = [r["key"].decode() for r in await pool.fetch("SELECT key FROM outbox")]
        assert sorted(keys) == sorted(customers)
    finally:
        await pool.close()


async def test_a_customers_term_ends_due_at_one_instant_fire_as_one_event_in_due_order(stack) -> None:  # type: ignore[no-untyped-def]
    """Grouped by customer and instant, at most 100 terms to an event, each group where its first term stood."""
    pool = await migrated_pool(stack, "scheduler")
    later = DUE + timedelta(days=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox")
            timers = [("C1", f"S-A{i:03d}", DUE) for i in range(101)] + [("C1", "S-B", later), ("C2", "S-C", DUE)]
            for customer, sub, due in timers:
                event = TermEnded(subscription_id=sub, customer_id=customer, term_end=due.date() - timedelta(days=1),
                                  instant=due)
                await set_timer(conn, "term_end", sub, due, customer, event, "scheduler.term_ended", DUE)
            cycle = ChargeCycleStarted(subscription_id="S-Y", customer_id="C1", cycle_start=DUE.date(),
                                       term_end=date(2026, 12, 31), instant=DUE)
            await set_timer(conn, "cycle", "S-Y@2026-02-01", DUE, "C1", cycle, "scheduler.charge_cycle_started", DUE)
        assert await fire_due(pool, later) == len(timers) + 1
        events = [json.loads(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    finally:
        await pool.close()
    c1 = [(e["type"], e["data"]["instant"], [t["subscription_id"] for t in e["data"].get("terms", [])])
          for e in events if e["data"]["customer_id"] == "C1"]
    assert c1 == [("scheduler.charge_cycle_started", "2026-02-01T00:00:00Z", []),  # kind "cycle" sorts first
                  ("scheduler.terms_ended", "2026-02-01T00:00:00Z", [f"S-A{i:03d}" for i in range(100)]),
                  ("scheduler.terms_ended", "2026-02-01T00:00:00Z", ["S-A100"]),
                  ("scheduler.terms_ended", "2026-02-02T00:00:00Z", ["S-B"])]
    [c2] = [e for e in events if e["data"]["customer_id"] == "C2"]
    assert c2["data"]["terms"] == [{"subscription_id": "S-C", "term_end": "2026-01-31"}]
    assert len({e["id"] for e in events}) == len(events)


async def test_customers_whose_subscription_ids_interleave_still_get_one_event_each(stack) -> None:  # type: ignore[no-untyped-def]
    """Ids need not sort by customer (W0000001 may be C1's, W0000002 C2's): a customer's term ends of one instant are
    claimed together all the same, even across small firing batches."""
    pool = await migrated_pool(stack, "scheduler")
    try:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox")
            for i in range(40):
                customer = ("C1", "C2")[i % 2]
                event = TermEnded(subscription_id=f"W{i:07d}", customer_id=customer, term_end=date(2026, 1, 31),
                                  instant=DUE)
                await set_timer(conn, "term_end", f"W{i:07d}", DUE, customer, event, "scheduler.term_ended", DUE)
        assert await fire_due(pool, DUE, batch=20) + await fire_due(pool, DUE, batch=20) == 40
        events = [json.loads(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    finally:
        await pool.close()
    assert sorted((e["data"]["customer_id"], len(e["data"]["terms"])) for e in events) == [("C1", 20), ("C2", 20)]


async def test_a_month_closes_only_after_every_timer_due_before_its_end_has_fired(stack) -> None:  # type: ignore[no-untyped-def]
    """§4.1: after an outage over a month end, the month's last charge cycle reaches the outbox before the month's
    end, even when another transaction holds that charge's timer as the month end becomes due (it would otherwise
    close the month first and push the charge onto the next month's invoice)."""
    pool = await migrated_pool(stack, "scheduler")
    jan31, back = datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC)
    try:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox; DELETE FROM timers")
            await set_timer(conn, *month_end(date(2026, 1, 1)), jan31)
            cycle = ChargeCycleStarted(subscription_id="S-M", customer_id="C-M", cycle_start=jan31.date(),
                                       term_end=date(2026, 12, 30), instant=jan31)
            await set_timer(conn, "cycle", "S-M@2026-01-31", jan31, "C-M", cycle, "scheduler.charge_cycle_started",
                            jan31)
        async with pool.acquire() as other, other.transaction():  # another round holds the charge's timer
            await other.execute("SELECT FROM timers WHERE kind = 'cycle' FOR UPDATE")
            assert await fire_due(pool, back) == 0  # the month end waits for it
        while await fire_due(pool, back):
            pass
        fired = [json.loads(r["payload"])["type"] for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
        assert fired == ["scheduler.charge_cycle_started", "scheduler.month_ended"]
    finally:
        await pool.close()

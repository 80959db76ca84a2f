"""The scheduler under faults: killed mid-batch, and two instances at once — every due event once, in order."""
import asyncio
import json
import signal
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from services.scheduler.storage import timer_row
from shared.contracts.scheduler import TermEnded
from services.system import System
from tests.kafka import read
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
CUSTOMERS = 200
TERM_ENDS_LEFT = "SELECT count(*) FROM timers WHERE kind = 'term_end'"  # (a month end is always armed)
COLUMNS = ("kind", "key", "due_at", "partition_key", "event_id", "headers", "payload", "updated_at", "bucket")

async def seeded(stack, n: int) -> tuple[asyncpg.Pool, set[str]]:  # type: ignore[no-untyped-def]
    """n timers already due, spread over 200 customers, each with the event it will emit."""
    pool = await migrated_pool(stack, "scheduler")
    start, now = datetime(2025, 1, 1, tzinfo=UTC), datetime.now(UTC)
    rows = []
    for i in range(n):
        due, customer = start + timedelta(seconds=i), f"C{i % CUSTOMERS}"
        event = TermEnded(subscription_id=f"S{i}", customer_id=customer, term_end=date(2024, 12, 31), instant=due)
        rows.append(timer_row("term_end", f"S{i}", due, customer, "scheduler.term_ended", event, now))
    await pool.copy_records_to_table("timers", records=rows, columns=COLUMNS)
    return pool, {str(r[4]) for r in rows}


async def emitted(stack, n: int) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return [json.loads(r.value) for r in await read(stack.bootstrap, "nce.scheduler.events", until=n, timeout=120,
                                                    settle=2.0)]


def in_effect_in_order(events: list[dict]) -> bool:  # type: ignore[type-arg]
    """After dropping repeats (same id), each customer's events come in due order."""
    seen, last = set(), defaultdict(str)
    for e in events:
        if e["id"] in seen:
            continue
        seen.add(e["id"])
        customer, instant = e["data"]["customer_id"], e["data"]["instant"]
        if instant < last[customer]:
            return False
        last[customer] = instant
    return True


async def test_killed_mid_batch_and_restarted_every_due_event_is_emitted_once_in_effect(stack) -> None:
    n = 100_000
    pool, expected = await seeded(stack, n)
    system = System(stack.env(), stack.log_dir, services=("scheduler",))
    try:
        system.start()
        deadline = time.monotonic() + 120
        while await pool.fetchval("SELECT count(*) FROM outbox") == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        system.kill("scheduler", signal.SIGKILL)
        left = await pool.fetchval(TERM_ENDS_LEFT)
        assert 0 < left < n, "the kill should land while timers are still being fired"
        system.start()
        events = await emitted(stack, n)
    finally:
        system.stop()
    ids = [e["id"] for e in events]
    assert set(ids) == expected  # none lost, none invented
    assert in_effect_in_order(events)
    assert await pool.fetchval(TERM_ENDS_LEFT) == 0
    await pool.close()


async def test_two_instances_at_once_never_double_emit_or_reorder(stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    n = 30_000
    pool, expected = await seeded(stack, n)
    one = System(stack.env(), stack.log_dir, services=("scheduler",))
    two = System(stack.env(), tmp_path / "second", services=("scheduler",))
    try:
        one.start()
        two.start()
        events = await emitted(stack, n)
    finally:
        one.stop()
        two.stop()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == n and set(ids) == expected
    assert in_effect_in_order(events)
    await pool.close()

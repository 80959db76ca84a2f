"""The scheduler under faults: killed mid-batch, and two instances at once — every due event once, in order."""
import asyncio
import json
import signal
import time
from collections import defaultdict

import asyncpg
import pytest

from services.scheduler.app import SERVICE as SCHEDULER
from services.system import System
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from tests.kafka import read

pytestmark = pytest.mark.integration
CUSTOMERS = 200

# Timers already due, spread over 200 customers, each with the event it will emit.
_SEED = """
INSERT INTO timers (kind, key, due_at, partition_key, event_type, event_version, data, updated_at)
SELECT 'term_end', 'S' || i, '2025-01-01T00:00:00Z'::timestamptz + i * interval '1 second', 'C' || (i % $2),
       'scheduler.term_ended', 1,
       jsonb_build_object('subscription_id', 'S' || i, 'customer_id', 'C' || (i % $2), 'term_end', '2024-12-31',
                          'instant', to_char(('2025-01-01T00:00:00Z'::timestamptz + i * interval '1 second')
                                             AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
       now()
FROM generate_series(1, $1) AS i
"""


async def seeded(stack, n: int) -> tuple[asyncpg.Pool, set[str]]:  # type: ignore[no-untyped-def]
    pool = await create_pool(stack.database_url, "scheduler")
    await migrate(pool, "scheduler", SCHEDULER.migrations)
    await pool.execute(_SEED, n, CUSTOMERS)
    expected = {str(r["id"]) for r in await pool.fetch(
        "SELECT md5(kind || ':' || key || ':' || extract(epoch FROM due_at)::bigint)::uuid AS id FROM timers")}
    return pool, expected


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
        left = await pool.fetchval("SELECT count(*) FROM timers")
        assert 0 < left < n, "the kill should land while timers are still being fired"
        system.start()
        events = await emitted(stack, n)
    finally:
        system.stop()
    ids = [e["id"] for e in events]
    assert set(ids) == expected  # none lost, none invented
    assert in_effect_in_order(events)
    assert await pool.fetchval("SELECT count(*) FROM timers") == 0
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

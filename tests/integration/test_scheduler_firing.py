"""One scheduler instance alone: a single firing round reaches every bucket (none waits for the next idle tick)."""
from datetime import UTC, date, datetime

import pytest

from services.scheduler.storage import BUCKETS, bucket_of, fire_due, set_timer
from shared.contracts.scheduler import TermEnded
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

"""The outbox relay over the real broker: order per key, headers, one active relay among two."""
import asyncio
import json

import pytest

from shared.db.pool import connect
from shared.messaging.kafka import ensure_topics, make_producer
from shared.messaging.outbox import INSERT, row
from shared.messaging.relay import Relay
from tests.kafka import read
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
TOPIC = "nce.catalog.events"


async def test_two_relays_publish_every_row_once_in_order_per_key(stack) -> None:
    settings = stack.service_settings("catalog")
    pool = await migrated_pool(stack, "catalog")
    await ensure_topics(settings, [TOPIC])
    keys = [f"K{i}" for i in range(10)]
    async with pool.acquire() as conn, conn.transaction():
        for n in range(1000):
            key = keys[n % len(keys)]
            await conn.execute(INSERT, *row(TOPIC, key.encode(), json.dumps({"key": key, "n": n}).encode(),
                                            [("type", b"test.row"), ("id", str(n).encode())]))
    producers = [make_producer(settings) for _ in range(2)]
    for p in producers:
        await p.start()
    relays = [Relay(lambda: connect(stack.database_url, "catalog"), p, "catalog", batch=50) for p in producers]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        records = await read(stack.bootstrap, TOPIC, until=1000, settle=1.0)
        assert sum(r.active for r in relays) == 1
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in producers:
            await p.stop()
    bodies = [json.loads(r.value) for r in records]
    assert sorted(b["n"] for b in bodies) == list(range(1000))
    for key in keys:
        seen = [b["n"] for b in bodies if b["key"] == key]
        assert seen == sorted(seen), f"rows of {key} were published out of order"
    assert all(r.key.decode() == json.loads(r.value)["key"] for r in records)
    assert all(dict(r.headers)["type"] == b"test.row" for r in records)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # published rows are deleted
    await pool.close()

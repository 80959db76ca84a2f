"""The outbox relay over the real broker: order per key, headers, one active relay among two."""
import asyncio
import json
import uuid

import pytest

from shared.db.pool import connect
from shared.messaging.kafka import ensure_topics, make_producer
from shared.messaging.outbox import INSERT, row
from shared.messaging.relay import Relay
from tests.conftest import migrated_pool
from tests.kafka import read

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


async def test_a_row_committed_while_a_round_is_out_is_published_at_once_not_after_the_idle_wait(stack) -> None:
    settings = stack.service_settings("catalog")
    pool = await migrated_pool(stack, "catalog")
    topic = f"nce.test.relay-wake-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])

    async def commit(n: int) -> None:
        await pool.execute(INSERT, *row(topic, b"K", json.dumps({"n": n}).encode(), [("type", b"test.row")]))

    await commit(1)
    producer = make_producer(settings)
    await producer.start()
    relay = Relay(lambda: connect(stack.database_url, "catalog"), producer, "catalog", idle_s=60)
    send, committed = producer.send, []

    async def send_while_another_row_commits(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not committed:  # a consumer commits a row after the round read its rows, and wakes the relay
            committed.append(2)
            await commit(2)
            relay.wake.set()
        return await send(*args, **kwargs)

    producer.send = send_while_another_row_commits  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        records = await read(stack.bootstrap, topic, until=2, timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
        await pool.close()
    assert [json.loads(r.value)["n"] for r in records] == [1, 2]  # the second within seconds, not after 60

"""The outbox relay: publishes committed outbox rows in id order, then deletes them.

Only one relay per service publishes at a time: it holds a session advisory lock for as long as it runs, so a
second instance waits in standby and rows of one key are never published out of order by two relays. A crash
between publish and delete re-publishes the rows; consumers drop the repeats by message id (inbox).
"""
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import metrics

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        producer: AIOKafkaProducer,
        service: str,
        *,
        batch: int = 500,
        idle_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.connect = connect
        self.producer = producer
        self.service = service
        self.batch = batch
        self.idle_s = idle_s
        self.max_backoff_s = max_backoff_s
        self.wake = asyncio.Event()
        self.active = False

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await self.connect()  # its own session: closing it is what releases the lock
                try:
                    if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self.service}"):
                        self.active = False
                        await asyncio.sleep(1)
                        continue
                    self.active = True
                    failures = 0
                    await self._drain_forever(conn)
                finally:
                    self.active = False
                    conn.terminate()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broker or database away: back off and take the lock again
                self.active = False
                failures += 1
                log.warning("%s relay: %r; retrying", self.service, e)
                await asyncio.sleep(min(self.max_backoff_s, 0.1 * 2**failures))

    async def _drain_forever(self, conn: asyncpg.Connection) -> None:
        while True:
            # cleared before the read, not after the round: a commit during the round (after its read) must start
            # the next round at once rather than wait for another commit or the idle timeout
            self.wake.clear()
            sent = await self.publish_once(conn)
            if sent < self.batch:
                try:
                    await asyncio.wait_for(self.wake.wait(), self.idle_s)
                except TimeoutError:
                    pass

    async def publish_once(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, headers, payload FROM outbox ORDER BY id LIMIT $1",
            self.batch,
        )
        if not rows:
            metrics.OUTBOX_BACKLOG.labels(self.service).set(0)
            return 0
        pending = [
            await self.producer.send(
                r["topic"],
                value=r["payload"],
                key=r["key"],
                headers=[(k, v.encode()) for k, v in json.loads(r["headers"])],
            )
            for r in rows
        ]
        await asyncio.gather(*pending)
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        metrics.PUBLISHED.labels(self.service).inc(len(rows))
        full = len(rows) == self.batch
        backlog = await conn.fetchval("SELECT count(*) FROM outbox") if full else 0
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        return len(rows)

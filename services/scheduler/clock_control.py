"""Moving the simulated clock: step to each due instant, fire, and wait until the whole system has settled.

Settled means: every service's outbox is empty, a marker published to every partition of every consumed topic has
been committed past by every consumer group, and no service wrote an outbox row during that round (else what it
wrote may still be in flight) — then no timer is due. Tansu's end offsets are wrong, hence markers, not lag.
"""
import asyncio
import logging
import time
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.clock import SharedSimulatedClock
from shared.db.pool import TRANSIENT_DB_ERRORS
from shared.messaging.kafka import make_admin
from shared.messaging.markers import committed, mark, past
from shared.settings import KafkaSettings

from services.scheduler import storage

log = logging.getLogger(__name__)

class NotSettledError(TimeoutError):
    pass


async def _outboxes(pool: asyncpg.Pool, schemas: list[str]) -> dict[str, tuple[int, int]]:
    """Per schema: the last outbox id handed out (written, sent or not) and how many rows are still to send."""
    marks = {}
    for schema in schemas:
        row = await pool.fetchrow(
            f'SELECT (SELECT last_value FROM "{schema}".outbox_id_seq) AS top, '
            f'(SELECT count(*) FROM "{schema}".outbox) AS unsent'
        )
        marks[schema] = (row["top"], row["unsent"])
    return marks


async def _groups_past(admin: AIOKafkaAdminClient, participants: list[asyncpg.Record],
                       marks: dict[TopicPartition, int]) -> bool:
    for p in participants:
        wanted = {tp: at for tp, at in marks.items() if tp.topic in p["topics"]}
        if wanted and not past(wanted, await committed(admin, p["group_id"], list(wanted))):
            return False
    return True


# Polling starts quick (a small step settles in a few tens of ms) and slows down while a big wave is being worked
# through, so that watching it (count queries, offset requests to the broker) does not take CPU from the wave.
_MIN_POLL_S, _MAX_POLL_S = 0.05, 0.25


async def _poll_pause(pause: float) -> float:
    await asyncio.sleep(pause)
    return min(_MAX_POLL_S, pause * 1.5)


async def settle(pool: asyncpg.Pool, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient,
                 timeout: float = 120.0) -> int:
    """Wait until nothing moves any more; returns the rounds it took."""
    deadline, rounds, pause = time.monotonic() + timeout, 0, _MIN_POLL_S
    while time.monotonic() < deadline:
        participants = await pool.fetch("SELECT group_id, schema, topics FROM nce_sim.participants")
        schemas = [p["schema"] for p in participants]
        before = await _outboxes(pool, schemas)
        if any(unsent for _, unsent in before.values()):
            pause = await _poll_pause(pause)
            continue
        rounds += 1
        marks = await mark(producer, {t for p in participants for t in p["topics"]})
        while not await _groups_past(admin, participants, marks):
            if time.monotonic() > deadline:
                raise NotSettledError("consumer groups did not catch up with the clock's markers")
            pause = await _poll_pause(pause)
        if await _outboxes(pool, schemas) == before:
            return rounds
    raise NotSettledError(f"the system did not settle within {timeout}s")


class ClockControl:
    def __init__(self, pool: asyncpg.Pool, clock: SharedSimulatedClock, producer: AIOKafkaProducer,
                 kafka: KafkaSettings) -> None:
        self.pool, self.clock, self.producer, self.kafka = pool, clock, producer, kafka
        self._lock = asyncio.Lock()

    async def advance(self, to: datetime, patience: float = 120.0) -> dict[str, object]:
        """Move to `to` through every due instant on the way; return when it stands there, settled.

        A broker or a database away is waited on for up to `patience` seconds: each step leaves the clock and the
        timers consistent in the database, so trying again resumes where the clock stands."""
        async with self._lock:
            give_up, done = time.monotonic() + patience, {"steps": 0, "fired": 0}
            while True:
                try:
                    return {"now": (await self._advance(to, done)).isoformat(), **done}
                except NotSettledError:
                    raise
                except (KafkaError, *TRANSIENT_DB_ERRORS) as e:
                    if time.monotonic() > give_up:
                        raise NotSettledError(f"the broker or the database is unreachable: {e!r}") from e
                    log.warning("clock: %r; trying again", e)
                    await asyncio.sleep(1)

    async def _advance(self, to: datetime, done: dict[str, int]) -> datetime:
        current = await self.clock.now()
        if to < current:
            await self.clock.set(to)  # raises ClockMovedBackwardsError with the reason
        await storage.arm_month_end(self.pool, current)  # should the timer loop not have armed it yet
        admin = make_admin(self.kafka, "nce-scheduler-clock")
        await admin.start()
        try:
            while True:
                while batch := await storage.fire_due(self.pool, current):
                    done["fired"] += batch
                await settle(self.pool, self.producer, admin)
                if await storage.due_count(self.pool, current):
                    continue  # what settled scheduled something already due
                if current >= to:
                    return current
                upcoming = await storage.next_due(self.pool, current)
                current = await self.clock.set(min(upcoming, to) if upcoming else to)
                done["steps"] += 1
        finally:
            await admin.close()

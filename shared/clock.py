"""The injected clock: system time in production; a simulated clock, shared by all services, for tests and demos.

Domain code never reads a clock: the kernel reads it once per fetched batch of inbound messages (the stamp) and
passes the instant.
"""
from datetime import UTC, datetime
from typing import Protocol

import asyncpg


class Clock(Protocol):
    async def now(self) -> datetime: ...


class SystemClock:
    async def now(self) -> datetime:
        return datetime.now(UTC)


class ClockMovedBackwardsError(ValueError):
    pass


class SimulatedClock:
    """An in-process clock that stands still until moved forward (for tests of one process)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware UTC instant")
        self._now = start.astimezone(UTC)

    async def now(self) -> datetime:
        return self._now

    async def set(self, to: datetime) -> datetime:
        if to.astimezone(UTC) < self._now:
            raise ClockMovedBackwardsError(f"the clock stands at {self._now.isoformat()}; it cannot go back to {to.isoformat()}")
        self._now = to.astimezone(UTC)
        return self._now


# Simulated mode across processes: one row every service reads, in a schema of its own.
SIM_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS nce_sim;
CREATE TABLE IF NOT EXISTS nce_sim.clock (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    now timestamptz NOT NULL
);
-- Who takes part, so the scheduler can tell when the whole system has settled after a clock step.
CREATE TABLE IF NOT EXISTS nce_sim.participants (
    service  text PRIMARY KEY,
    group_id text NOT NULL,
    schema   text NOT NULL,
    topics   text[] NOT NULL
);
"""


class SharedSimulatedClock:
    """The simulated clock of a whole system: the `nce_sim.clock` row, read at every stamp, moved by the scheduler."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def now(self) -> datetime:
        value = await self.pool.fetchval("SELECT now FROM nce_sim.clock")
        return value.astimezone(UTC)

    async def set(self, to: datetime) -> datetime:
        moved = await self.pool.fetchval("UPDATE nce_sim.clock SET now = $1 WHERE now <= $1 RETURNING now", to)
        if moved is None:
            current = await self.now()
            raise ClockMovedBackwardsError(f"the clock stands at {current.isoformat()}; it cannot go back to {to.isoformat()}")
        return moved.astimezone(UTC)


async def join_simulation(pool: asyncpg.Pool, start: datetime, service: str, group_id: str, schema: str,
                          topics: list[str]) -> SharedSimulatedClock:
    """Create the shared clock at `start` unless it exists (a later restart keeps its time) and register."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('nce_sim'))")
        await conn.execute(SIM_SCHEMA)
        await conn.execute("INSERT INTO nce_sim.clock (now) VALUES ($1) ON CONFLICT DO NOTHING", start)
        await conn.execute(
            """INSERT INTO nce_sim.participants VALUES ($1, $2, $3, $4)
               ON CONFLICT (service) DO UPDATE SET group_id = EXCLUDED.group_id, schema = EXCLUDED.schema,
               topics = EXCLUDED.topics""",
            service, group_id, schema, topics,
        )
    return SharedSimulatedClock(pool)

"""The scheduler's timer loop outlives any failure: no timer would fire again after it ended."""
import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from services.scheduler import firing


async def test_the_timer_loop_goes_on_after_an_unexpected_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[str] = []

    async def fire_due(pool: Any, now: datetime) -> int:
        rounds.append("fire")
        if len(rounds) == 1:
            raise RuntimeError("a bug, or an error nobody foresaw")
        return 0

    async def nothing(*_: Any) -> None:
        return None

    class Clock:
        async def now(self) -> datetime:
            return datetime(2026, 1, 1, tzinfo=UTC)

    rt = type("Rt", (), {"clock": Clock(), "db": lambda self: None, "relay": None})()
    monkeypatch.setattr(firing.storage, "fire_due", fire_due)
    monkeypatch.setattr(firing.storage, "arm_month_end", nothing)
    task = asyncio.create_task(firing.run_timers(rt, idle_s=0.001))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(rounds) >= 2:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(rounds) >= 2

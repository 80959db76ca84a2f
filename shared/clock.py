"""The injected clock: system time in production, a simulated clock for tests and demos."""
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ClockMovedBackwardsError(ValueError):
    pass


class SimulatedClock:
    """A clock that stands still until moved forward; never backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware UTC instant")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, to: datetime) -> None:
        to = to.astimezone(UTC)
        if to < self._now:
            raise ClockMovedBackwardsError(f"the clock stands at {self._now.isoformat()}; it cannot go back to {to.isoformat()}")
        self._now = to


def make_clock(kind: str, start: datetime | None) -> Clock:
    if kind == "simulated":
        assert start is not None
        return SimulatedClock(start)
    return SystemClock()

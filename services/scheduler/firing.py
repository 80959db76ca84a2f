"""The scheduler's timer loop: fire what is due by the clock, catching up at start in due order (the month-end chain
armed first)."""
import asyncio
import logging

from shared import metrics
from shared.db.pool import TRANSIENT_DB_ERRORS
from shared.runtime import NotReadyError, Runtime

from services.scheduler import storage

log = logging.getLogger(__name__)


async def run_timers(rt: Runtime, idle_s: float = 0.5) -> None:
    armed = False
    while True:
        try:
            now = await rt.clock.now()
            if not armed:  # the month-end chain: its link for this month, should none be armed
                await storage.arm_month_end(rt.db(), now)
                armed = True
            while fired := await storage.fire_due(rt.db(), now):
                log.info("fired %d timers due by %s", fired, now.isoformat())
                if rt.relay is not None:
                    rt.relay.wake.set()
        except (NotReadyError, *TRANSIENT_DB_ERRORS) as e:
            log.warning("timer loop: %r; retrying", e)
        except Exception:  # never the end of the loop: no timer would fire again while /readyz said ready
            metrics.FAILED.labels("scheduler", "error").inc()
            log.exception("timer loop failed; retrying")
            await asyncio.sleep(min(30.0, idle_s * 10))
        await asyncio.sleep(idle_s)


async def timer_gauges(rt: Runtime) -> None:
    """Timers due and not fired yet, and how late the oldest is, by the service's clock (at /metrics scrapes)."""
    now = await rt.clock.now()
    due, oldest = await storage.due_stats(rt.db(), now)
    metrics.TIMERS_DUE.labels("scheduler").set(due)
    metrics.TIMERS_LATE.labels("scheduler").set((now - oldest).total_seconds() if oldest is not None else 0.0)

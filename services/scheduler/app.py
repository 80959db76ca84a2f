"""Composition root of the scheduler service."""
from pathlib import Path

from shared.runtime import ServiceDef

from services.scheduler.api import routes
from services.scheduler.firing import run_timers, timer_gauges
from services.scheduler.handlers import handlers

SERVICE = ServiceDef("scheduler", handlers, Path(__file__).parent / "migrations", routes, (run_timers,),
                     gauges=(timer_gauges,))

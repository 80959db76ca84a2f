"""The scheduler's HTTP: its timers, and the simulated clock (`GET /clock`, `POST /clock {"to": T}`)."""
import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.clock import ClockMovedBackwardsError, SharedSimulatedClock
from shared.http import error
from shared.runtime import NotReadyError, Runtime

from services.scheduler import storage
from services.scheduler.clock_control import ClockControl, NotSettledError

SYSTEM_CLOCK = "the system clock is in use (NCE_CLOCK=system): production time can't be read or moved here"


def routes(rt: Runtime) -> list[BaseRoute]:
    controls: list[ClockControl] = []

    def control() -> ClockControl:
        if not controls:
            if rt.producer is None or rt.relay is None or not isinstance(rt.clock, SharedSimulatedClock):
                raise NotReadyError("the scheduler is still connecting")
            controls.append(ClockControl(rt.db(), rt.clock, rt.producer, rt.settings))
        return controls[0]

    async def timers(request: Request) -> JSONResponse:
        return JSONResponse({"timers": await storage.timers(rt.db(), request.query_params.get("key"))})

    async def read_clock(request: Request) -> JSONResponse:
        if rt.settings.clock != "simulated":
            return error(404, SYSTEM_CLOCK)
        return JSONResponse({"now": (await rt.clock.now()).isoformat(), "mode": "simulated"})

    async def move_clock(request: Request) -> JSONResponse:
        if rt.settings.clock != "simulated":
            return error(409, SYSTEM_CLOCK)
        try:
            body = json.loads(await request.body() or b"{}")
            to = datetime.fromisoformat(str(body["to"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            return error(400, 'send {"to": "2025-02-01T00:00:00Z"} (an ISO 8601 instant with offset)')
        if to.tzinfo is None:
            return error(400, "the instant needs a UTC offset, e.g. 2025-02-01T00:00:00Z")
        try:
            return JSONResponse(await control().advance(to.astimezone(UTC)))
        except ClockMovedBackwardsError as e:
            return error(409, str(e))
        except NotSettledError as e:
            return error(504, str(e))

    return [Route("/scheduler/timers", timers), Route("/clock", read_clock, methods=["GET"]),
            Route("/clock", move_clock, methods=["POST"])]

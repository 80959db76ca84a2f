"""The scheduler's HTTP: its timers, and the simulated clock (`GET /clock`, `POST /clock {"to": T}`)."""
import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.auth import operator_only
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
        """---
        summary: The timers still to fire (the first 1000 by due time)
        parameters:
          - {name: key, in: query, schema: {type: string}, description: 'only this key (a subscription id, say)'}
        responses:
          '200':
            description: The timers and the event each will publish
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    timers:
                      type: array
                      items:
                        type: object
                        properties:
                          kind: {type: string}
                          key: {type: string}
                          due_at: {type: string, format: date-time}
                          event_id: {type: string, format: uuid}
                          event_type: {type: string, examples: [scheduler.term_ended]}
                          data: {type: object}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '403': {$ref: '#/components/responses/Forbidden'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        if (refused := operator_only(request)) is not None:
            return refused
        return JSONResponse({"timers": await storage.timers(rt.db(), request.query_params.get("key"))})

    async def read_clock(request: Request) -> JSONResponse:
        """---
        summary: The simulated time (simulated clock only)
        responses:
          '200':
            description: The simulated time
            content:
              application/json:
                schema:
                  type: object
                  properties: {now: {type: string, format: date-time}, mode: {type: string, enum: [simulated]}}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '404': {$ref: '#/components/responses/NotFound'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        if rt.settings.clock != "simulated":
            return error(404, SYSTEM_CLOCK)
        return JSONResponse({"now": (await rt.clock.now()).isoformat(), "mode": "simulated"})

    async def move_clock(request: Request) -> JSONResponse:
        """---
        summary: Move the simulated clock forward; answer once everything due by then has fired and settled
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [to]
                properties: {to: {type: string, format: date-time, examples: ['2025-02-01T00:00:00Z']}}
        responses:
          '200':
            description: Settled at the new time
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    now: {type: string, format: date-time}
                    steps: {type: integer, description: due instants stepped through}
                    fired: {type: integer, description: timers fired}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '403': {$ref: '#/components/responses/Forbidden'}
          '409':
            description: The system clock is in use, or the instant is before the simulated time
            content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
          '503': {$ref: '#/components/responses/NotReady'}
          '504':
            description: Not settled in time
            content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
        """
        if (refused := operator_only(request)) is not None:
            return refused
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

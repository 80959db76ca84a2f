"""The scheduler's HTTP reads."""
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.runtime import Runtime

from services.scheduler import storage


def routes(rt: Runtime) -> list[BaseRoute]:
    async def timers(request: Request) -> JSONResponse:
        return JSONResponse({"timers": await storage.timers(rt.db(), request.query_params.get("key"))})

    return [Route("/scheduler/timers", timers)]

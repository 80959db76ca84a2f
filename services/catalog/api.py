"""The catalog's HTTP reads."""
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.http import error
from shared.runtime import Runtime

from services.catalog import storage


def routes(rt: Runtime) -> list[BaseRoute]:
    async def items(request: Request) -> JSONResponse:
        market = request.query_params.get("market")
        return JSONResponse({"items": await storage.offers(rt.db(), market.upper() if market else None)})

    async def item(request: Request) -> JSONResponse:
        found = await storage.offer(rt.db(), request.path_params["catalog_item_id"])
        if found is None:
            return error(404, "unknown catalog_item_id")
        return JSONResponse(found)

    return [Route("/catalog/items", items), Route("/catalog/items/{catalog_item_id}", item)]

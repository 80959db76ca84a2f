"""Pricing's HTTP reads."""
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.http import error
from shared.runtime import Runtime

from services.pricing import storage


def routes(rt: Runtime) -> list[BaseRoute]:
    async def price_rows(request: Request) -> JSONResponse:
        item = request.query_params.get("catalog_item_id")
        if not item:
            return error(400, "catalog_item_id is required")
        market = request.query_params.get("market")
        return JSONResponse({"rows": await storage.prices(rt.db(), item, market.upper() if market else None)})

    return [Route("/pricing/prices", price_rows)]

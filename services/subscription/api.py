"""The subscription service's HTTP reads."""
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.http import error
from shared.runtime import Runtime

from services.subscription import storage


def routes(rt: Runtime) -> list[BaseRoute]:
    async def one(request: Request) -> JSONResponse:
        found = await storage.subscription(rt.db(), request.path_params["subscription_id"])
        if found is None:
            return error(404, "unknown subscription")
        now = await rt.clock.now()
        seats = [b for b in found.pop("seat_batches")
                 if datetime.fromisoformat(b["refundable_until"]) >= now]
        found["refundable_quantity"] = {
            "total": sum(b["quantity"] for b in seats),
            "details": [{"quantity": b["quantity"], "allowed_until": b["refundable_until"]} for b in seats],
        }
        found.setdefault("scheduled_change", None)
        found.setdefault("parent_subscription_id", None)
        return JSONResponse(found)

    async def of_customer(request: Request) -> JSONResponse:
        customer_id = request.query_params.get("customer_id")
        if not customer_id:
            return error(400, "customer_id is required")
        return JSONResponse({"subscriptions": await storage.subscriptions_of(rt.db(), customer_id)})

    return [Route("/subscriptions", of_customer), Route("/subscriptions/{subscription_id}", one)]

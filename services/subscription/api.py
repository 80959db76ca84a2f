"""The subscription service's HTTP reads (a partner token sees only its own partner's subscriptions)."""
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.auth import reader, sees
from shared.http import error
from shared.runtime import Runtime

from services.subscription import storage, views


def _partner(request: Request) -> str | None:
    """The partner the read is narrowed to: a partner token's own, or the operator's `partner_id=` if given."""
    return reader(request).partner_id or request.query_params.get("partner_id") or None


def routes(rt: Runtime) -> list[BaseRoute]:
    async def one(request: Request) -> JSONResponse:
        found = await storage.subscription(rt.db(), request.path_params["subscription_id"])
        if found is None or not sees(request, found["partner_id"]):
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
        found = await storage.subscriptions_of(rt.db(), customer_id)
        return JSONResponse({"subscriptions": [s for s in found if sees(request, s["partner_id"])]})

    async def summary(request: Request) -> JSONResponse:
        return JSONResponse(await views.summary(rt.db(), _partner(request)))

    async def due(request: Request) -> JSONResponse:
        days = request.query_params.get("days", "30")
        if not days.isdigit() or not 1 <= int(days) <= 366:
            return error(400, "days must be a whole number from 1 to 366")
        today = (await rt.clock.now()).date()
        return JSONResponse(await views.due(rt.db(), _partner(request), today, int(days)))

    async def eos_impact(request: Request) -> JSONResponse:
        return JSONResponse(await views.eos_impact(rt.db(), _partner(request), await rt.clock.now()))

    return [
        Route("/subscriptions", of_customer),
        Route("/subscriptions/summary", summary),
        Route("/subscriptions/due", due),
        Route("/subscriptions/eos-impact", eos_impact),
        Route("/subscriptions/{subscription_id}", one),
    ]

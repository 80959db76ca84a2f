"""Billing's HTTP reads."""
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.http import error
from shared.runtime import Runtime

from services.billing import storage


def routes(rt: Runtime) -> list[BaseRoute]:
    async def lines(request: Request) -> JSONResponse:
        q = request.query_params
        filters = {k: q[k] for k in ("subscription_id", "customer_id", "partner_id") if q.get(k)}
        month = None
        if q.get("month"):
            try:
                month = date.fromisoformat(q["month"] + "-01")
            except ValueError:
                return error(400, "month must be YYYY-MM")
        if not filters and month is None:
            return error(400, "give subscription_id, customer_id, partner_id or month")
        return JSONResponse({"lines": await storage.lines(rt.db(), filters, month)})

    return [Route("/billing/lines", lines)]

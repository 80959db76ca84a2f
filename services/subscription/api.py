"""The subscription service's HTTP reads (a partner token sees only its own partner's subscriptions)."""
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.auth import reader, sees
from shared.http import error, whole
from shared.runtime import Runtime

from services.subscription import storage, views


def _partner(request: Request) -> str | None:
    """The partner the read is narrowed to: a partner token's own, or the operator's `partner_id=` if given."""
    return reader(request).partner_id or request.query_params.get("partner_id") or None


def routes(rt: Runtime) -> list[BaseRoute]:
    async def one(request: Request) -> JSONResponse:
        """---
        summary: One subscription as it stands now
        parameters:
          - {name: subscription_id, in: path, required: true, schema: {type: string}}
        responses:
          '200':
            description: The subscription
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    subscription_id: {type: string}
                    partner_id: {type: string}
                    customer_id: {type: string}
                    catalog_item_id: {type: string}
                    term_duration: {type: string, enum: [P1M, P1Y, P3Y]}
                    billing_cycle: {type: string, enum: [monthly, annual, triennial, none]}
                    quantity: {type: integer}
                    status: {type: string, examples: [active, suspended, expired, disabled, deleted]}
                    auto_renew: {type: boolean}
                    term_start: {type: string, format: date}
                    term_end: {type: string, format: date, description: inclusive}
                    cancellation_allowed_until: {type: string, format: date-time}
                    refundable_quantity:
                      type: object
                      description: the seats that may still be removed for a refund, and until when
                      properties:
                        total: {type: integer}
                        details:
                          type: array
                          items:
                            type: object
                            properties: {quantity: {type: integer}, allowed_until: {type: string, format: date-time}}
                    scheduled_change: {type: [object, 'null'], description: what the next term will be}
                    promotion_id: {type: [string, 'null']}
                    unit_price: {$ref: '#/components/schemas/Money'}
                    effective_unit_price: {$ref: '#/components/schemas/Money'}
                    currency: {type: string, description: the price list's currency}
                    billing_currency: {type: string, description: the partner's invoice currency}
                    market: {type: string}
                    parent_subscription_id: {type: [string, 'null']}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '404': {$ref: '#/components/responses/NotFound'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
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
        """---
        summary: A customer's subscriptions, oldest first
        parameters:
          - {name: customer_id, in: query, required: true, schema: {type: string}}
        responses:
          '200':
            description: The subscriptions (the fields of GET /subscriptions/{subscription_id} without
              refundable_quantity)
            content:
              application/json:
                schema: {type: object, properties: {subscriptions: {type: array, items: {type: object}}}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        customer_id = request.query_params.get("customer_id")
        if not customer_id:
            return error(400, "customer_id is required")
        found = await storage.subscriptions_of(rt.db(), customer_id)
        return JSONResponse({"subscriptions": [s for s in found if sees(request, s["partner_id"])]})

    async def summary(request: Request) -> JSONResponse:
        """---
        summary: The book by status and by offer (counts, and live seats per offer)
        parameters:
          - {name: partner_id, in: query, schema: {type: string}, description: 'operator only: narrow to one partner (a partner token is always narrowed to its own)'}
        responses:
          '200':
            description: Counts
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    total: {type: integer}
                    by_status: {type: object, additionalProperties: {type: integer}}
                    by_offer:
                      type: array
                      items:
                        type: object
                        properties:
                          catalog_item_id: {type: string}
                          total: {type: integer}
                          seats: {type: integer, description: seats of active and suspended subscriptions}
                          by_status: {type: object, additionalProperties: {type: integer}}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        return JSONResponse(await views.summary(rt.db(), _partner(request)))

    async def due(request: Request) -> JSONResponse:
        """---
        summary: Active terms ending in the next N days, renewing (auto-renew on) or expiring (off)
        parameters:
          - {name: days, in: query, schema: {type: integer, minimum: 1, maximum: 366, default: 30}}
          - {name: partner_id, in: query, schema: {type: string}, description: 'operator only: narrow to one partner (a partner token is always narrowed to its own)'}
        responses:
          '200':
            description: Counts per term-end day and the first 200 subscriptions
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    from: {type: string, format: date}
                    days: {type: integer}
                    renewals: {type: integer}
                    expiries: {type: integer}
                    per_day:
                      type: array
                      items:
                        type: object
                        properties: {term_end: {type: string, format: date}, renewals: {type: integer}, expiries: {type: integer}}
                    subscriptions: {type: array, items: {type: object}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        days = request.query_params.get("days", "30")
        if not whole(days) or not 1 <= int(days) <= 366:
            return error(400, "days must be a whole number from 1 to 366")
        today = (await rt.clock.now()).date()
        return JSONResponse(await views.due(rt.db(), _partner(request), today, int(days)))

    async def eos_impact(request: Request) -> JSONResponse:
        """---
        summary: Each upcoming End-of-Sale date, the live subscriptions it reaches and where they can transition
        parameters:
          - {name: partner_id, in: query, schema: {type: string}, description: 'operator only: narrow to one partner (a partner token is always narrowed to its own)'}
        responses:
          '200':
            description: Upcoming dates in order
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    dates:
                      type: array
                      items:
                        type: object
                        properties:
                          date: {type: string, format: date}
                          rules: {type: array, items: {type: object}, description: the EOS rules taking effect that day}
                          subscriptions: {type: integer}
                          affected:
                            type: array
                            items:
                              type: object
                              properties:
                                catalog_item_id: {type: string}
                                market: {type: string}
                                term_duration: {type: string}
                                billing_cycle: {type: string}
                                state: {type: string, enum: [EndOfSale, EndOfSaleWithConversions, EndOfLife]}
                                subscriptions: {type: integer}
                                seats: {type: integer}
                                sample: {type: array, items: {type: string}, description: up to 20 subscription ids}
                                transition_targets: {type: array, items: {type: string}, description: upgrade targets still purchasable that day}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        return JSONResponse(await views.eos_impact(rt.db(), _partner(request), await rt.clock.now()))

    return [
        Route("/subscriptions", of_customer),
        Route("/subscriptions/summary", summary),
        Route("/subscriptions/due", due),
        Route("/subscriptions/eos-impact", eos_impact),
        Route("/subscriptions/{subscription_id}", one),
    ]

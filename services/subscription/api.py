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
        return JSONResponse({"subscriptions": await storage.subscriptions_of(rt.db(), customer_id)})

    return [Route("/subscriptions", of_customer), Route("/subscriptions/{subscription_id}", one)]

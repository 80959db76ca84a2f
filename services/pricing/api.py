"""Pricing's HTTP reads: quotes and the rows behind them."""
import re
from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.contracts.common import CatalogItemId
from shared.http import error, instant, row_json, whole
from shared.runtime import Runtime

from services.pricing import storage
from services.pricing.domain.quote import QuoteError, quote

_ITEM = TypeAdapter(CatalogItemId)
_TERMS, _CYCLES = {"P1M", "P1Y", "P3Y"}, {"monthly", "annual", "triennial", "none"}
_SEGMENTS = ("commercial", "education", "government", "nonprofit")


def _query(q: Any) -> dict[str, Any] | str:
    """The quote's parameters, or what is wrong with them."""
    try:
        item = _ITEM.validate_python(q.get("catalog_item_id", ""))
    except ValidationError:
        return "catalog_item_id must be PRODUCT:SKU:AVAILABILITY (12:4:12 upper-case letters or digits)"
    term, cycle = q.get("term_duration", ""), q.get("billing_cycle", "")
    market, currency = q.get("market", "").upper(), q.get("currency", "").upper()
    if term not in _TERMS:
        return "term_duration must be P1M, P1Y or P3Y"
    if cycle not in _CYCLES:
        return "billing_cycle must be monthly, annual, triennial or none"
    if not re.fullmatch(r"[A-Z]{2}", market):
        return "market must be an ISO-2 country code"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        return "currency must be an ISO 4217 code"
    quantity = q.get("quantity", "1")
    if not whole(quantity) or not 1 <= int(quantity) <= 10_000_000:
        return "quantity must be a whole number from 1"
    segment = q.get("segment", "commercial")
    if segment not in _SEGMENTS:
        return f"segment must be one of {', '.join(_SEGMENTS)}"
    return {"item": item, "term": term, "cycle": cycle, "market": market, "currency": currency,
            "quantity": int(quantity), "segment": segment}


def routes(rt: Runtime) -> list[BaseRoute]:
    async def get_quote(request: Request) -> JSONResponse:
        """---
        summary: The price of an offer's plan in a market and currency at an instant, with the best promotion
        parameters:
          - $ref: '#/components/parameters/catalog_item_id'
          - {name: term_duration, in: query, required: true, schema: {type: string, enum: [P1M, P1Y, P3Y]}}
          - {name: billing_cycle, in: query, required: true,
             schema: {type: string, enum: [monthly, annual, triennial, none]}}
          - {name: market, in: query, required: true, schema: {type: string, pattern: '^[A-Za-z]{2}$'},
             description: ISO-2 country code}
          - {name: currency, in: query, required: true, schema: {type: string, pattern: '^[A-Za-z]{3}$'},
             description: 'ISO 4217: the partner''s billing currency (converted at the month''s FX rate)'}
          - {name: quantity, in: query, schema: {type: integer, minimum: 1, maximum: 10000000, default: 1},
             description: seats (picks the price tier)}
          - {name: segment, in: query,
             schema: {type: string, enum: [commercial, education, government, nonprofit], default: commercial},
             description: the customer's segment (promotions are for one segment)}
          - $ref: '#/components/parameters/at'
          - {name: customer_id, in: query, schema: {type: string},
             description: leaves out the promotions this customer has used up}
          - {name: promotion_id, in: query, schema: {type: string}, description: ask for this promotion}
        responses:
          '200':
            description: The quote
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    catalog_item_id: {type: string}
                    market: {type: string}
                    term_duration: {type: string}
                    billing_cycle: {type: string}
                    quantity: {type: integer}
                    at: {type: string, format: date-time}
                    currency: {type: string, description: the currency asked for}
                    pricing_currency: {type: string, description: the price list's currency}
                    fx_rate: {$ref: '#/components/schemas/Money'}
                    unit_price: {$ref: '#/components/schemas/Money'}
                    promotion:
                      type: [object, 'null']
                      properties: {promotion_id: {type: string}, discount: {$ref: '#/components/schemas/Money'}}
                    effective_unit_price: {$ref: '#/components/schemas/Money'}
                    effective_unit_price_in_currency: {$ref: '#/components/schemas/Money'}
                    row: {type: object, description: the price row used}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '404': {$ref: '#/components/responses/NotFound'}
          '422':
            description: No price in that currency and no FX rate for the month to convert one
            content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        q = _query(request.query_params)
        if isinstance(q, str):
            return error(400, q)
        at = instant(request.query_params.get("at"), await rt.clock.now())
        if isinstance(at, JSONResponse):
            return at
        product_id, sku_id, _ = q["item"].split(":")
        all_rows = await storage.offer_rows(rt.db(), product_id, sku_id)
        if not all_rows:
            return error(404, f"unknown offer: no price list has {product_id}:{sku_id}")
        in_market = [r for r in all_rows if r["market"] == q["market"]]
        if not in_market:
            return error(404, f"offer {q['item']} has no prices in market {q['market']}")
        plan = [r for r in in_market if (r["term_duration"], r["billing_cycle"]) == (q["term"], q["cycle"])]
        if not plan:
            return error(404, f"offer {q['item']} has no {q['term']} {q['cycle']} price in {q['market']}")
        on: date = at.date()
        try:
            result = quote(
                [storage.as_row(r) for r in plan], currency=q["currency"],
                fx=await storage.fx_rates(rt.db(), on.replace(day=1), q["currency"]),
                promos=await storage.promotions(rt.db(), product_id, sku_id, q["segment"]), product_id=product_id,
                sku_id=sku_id,
                term=q["term"], cycle=q["cycle"], market=q["market"], on=on, quantity=q["quantity"],
                redeemed=await storage.redeemed(rt.db(), request.query_params.get("customer_id")),
                requested=request.query_params.get("promotion_id"),
            )
        except QuoteError as e:
            return error(e.status, str(e))
        used = next(r for r in plan if storage.as_row(r) == result.row)
        promo = result.promotion
        return JSONResponse({
            "catalog_item_id": q["item"], "market": q["market"], "term_duration": q["term"],
            "billing_cycle": q["cycle"], "quantity": q["quantity"], "at": at.isoformat(),
            "currency": q["currency"], "pricing_currency": result.row.currency, "fx_rate": str(result.fx_rate),
            "unit_price": str(result.row.unit_price),
            "promotion": {"promotion_id": promo.promotion_id, "discount": str(promo.discount)} if promo else None,
            "effective_unit_price": str(result.effective_unit_price),
            "effective_unit_price_in_currency": str(result.effective_unit_price * result.fx_rate),
            "row": row_json(used),
        })

    async def price_rows(request: Request) -> JSONResponse:
        """---
        summary: The price rows of an offer (every market, or one)
        parameters:
          - $ref: '#/components/parameters/catalog_item_id'
          - {name: market, in: query, schema: {type: string, pattern: '^[A-Za-z]{2}$'}}
        responses:
          '200':
            description: The rows, as imported from the price lists
            content:
              application/json:
                schema: {type: object, properties: {rows: {type: array, items: {type: object}}}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        try:
            item = _ITEM.validate_python(request.query_params.get("catalog_item_id", ""))
        except ValidationError:
            return error(400, "catalog_item_id must be PRODUCT:SKU:AVAILABILITY")
        product_id, sku_id, _ = item.split(":")
        market = request.query_params.get("market", "").upper()
        rows = [row_json(r) for r in await storage.offer_rows(rt.db(), product_id, sku_id)
                if not market or r["market"] == market]
        return JSONResponse({"rows": rows})

    return [Route("/pricing/quote", get_quote), Route("/pricing/prices", price_rows)]

"""The catalog's HTTP reads: what is purchasable where and when, and everything known about one offer."""
import re

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.http import error, instant
from shared.rules.eos import eos_state
from shared.runtime import Runtime

from services.catalog import storage
from services.catalog.domain.offers import purchasable_plans


def _plans(offer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["term_duration"], p["billing_cycle"]) for p in offer["plans"]]


def _summary(offer: dict[str, Any], plans: list[tuple[str, str]], eos: str) -> dict[str, Any]:
    product_id, sku_id, _ = offer["catalog_item_id"].split(":")
    return {
        "catalog_item_id": offer["catalog_item_id"], "product_id": product_id, "sku_id": sku_id,
        "product_title": offer["product_title"], "sku_title": offer["sku_title"], "kind": offer["kind"],
        "segment": offer["segment"], "terms": sorted({t for t, _ in plans}),
        "plans": [{"term_duration": t, "billing_cycle": c} for t, c in plans],
        "min_quantity": offer["min_quantity"], "max_quantity": offer["max_quantity"],
        "flags": {"addon": bool(offer["addon_prerequisites"]), "trial": offer["trial"], "legacy": offer["legacy"],
                  "eos_state": eos},
    }


def routes(rt: Runtime) -> list[BaseRoute]:
    async def items(request: Request) -> JSONResponse:
        """---
        summary: The offers purchasable in a market at an instant
        parameters:
          - {name: market, in: query, required: true, schema: {type: string, pattern: '^[A-Za-z]{2}$'},
             description: ISO-2 country code, example: US}
          - $ref: '#/components/parameters/at'
        responses:
          '200':
            description: The offers, without legacy ones and plans past their End-of-Sale
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    market: {type: string}
                    at: {type: string, format: date-time}
                    items:
                      type: array
                      items:
                        type: object
                        properties:
                          catalog_item_id: {type: string}
                          product_id: {type: string}
                          sku_id: {type: string}
                          product_title: {type: string}
                          sku_title: {type: string}
                          kind: {type: string, enum: [license, software_subscription, perpetual]}
                          segment: {type: string}
                          terms: {type: array, items: {type: string}}
                          plans: {type: array, items: {$ref: '#/components/schemas/Plan'}}
                          min_quantity: {type: integer}
                          max_quantity: {type: integer}
                          flags:
                            type: object
                            properties:
                              addon: {type: boolean}
                              trial: {type: boolean}
                              legacy: {type: boolean}
                              eos_state: {type: string}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        market = request.query_params.get("market", "")
        if not re.fullmatch(r"[A-Z]{2}", market.upper()):
            return error(400, "market is required: an ISO-2 country code such as US")
        at = instant(request.query_params.get("at"), await rt.clock.now())
        if isinstance(at, JSONResponse):
            return at
        market = market.upper()
        rules = await storage.eos_rules(rt.db())
        listed = []
        for offer in await storage.offers(rt.db(), market):
            product_id, sku_id, _ = offer["catalog_item_id"].split(":")
            plans = purchasable_plans(product_id, sku_id, _plans(offer), rules, market, at)
            if plans and not offer["legacy"]:
                listed.append(_summary(offer, plans, "Active"))
        return JSONResponse({"market": market, "at": at.isoformat(), "items": listed})

    async def item(request: Request) -> JSONResponse:
        """---
        summary: Everything known about one offer, with its End-of-Sale state per market and plan at an instant
        parameters:
          - {name: catalog_item_id, in: path, required: true, schema: {type: string},
             description: PRODUCT:SKU:AVAILABILITY}
          - $ref: '#/components/parameters/at'
        responses:
          '200':
            description: >-
              The offer as published (catalog.offer_published data and its revision), plus `at`, `eos` (the state
              per market, term and billing cycle at `at`) and `eos_rules` (every rule for the offer, upcoming ones
              too)
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    catalog_item_id: {type: string}
                    revision: {type: integer}
                    at: {type: string, format: date-time}
                    markets: {type: array, items: {type: string}}
                    plans: {type: array, items: {$ref: '#/components/schemas/Plan'}}
                    upgrade_targets: {type: array, items: {type: string}}
                    eos:
                      type: array
                      items:
                        type: object
                        properties:
                          market: {type: string}
                          term_duration: {type: string}
                          billing_cycle: {type: string}
                          state: {type: string, enum: [Active, EndOfSale, EndOfSaleWithConversions, EndOfLife]}
                          effective_date: {type: [string, 'null'], format: date}
                    eos_rules: {type: array, items: {type: object}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '404': {$ref: '#/components/responses/NotFound'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        found = await storage.offer(rt.db(), request.path_params["catalog_item_id"])
        if found is None:
            return error(404, f"unknown catalog_item_id {request.path_params['catalog_item_id']}")
        at = instant(request.query_params.get("at"), await rt.clock.now())
        if isinstance(at, JSONResponse):
            return at
        product_id, sku_id, _ = found["catalog_item_id"].split(":")
        rules = await storage.eos_rules(rt.db(), [product_id])
        states = []
        for market in found["markets"]:
            for term, cycle in _plans(found):
                rule = eos_state(rules, product_id, sku_id, market, term, cycle, at)
                states.append({"market": market, "term_duration": term, "billing_cycle": cycle,
                               "state": rule.state if rule else "Active",
                               "effective_date": rule.effective_date.isoformat() if rule else None})
        upcoming = [{"state": r.state, "effective_date": r.effective_date.isoformat(), "sku_id": r.sku_id,
                     "market": r.market, "term_duration": r.term_duration, "billing_cycle": r.billing_cycle}
                    for r in rules if r.sku_id in (None, sku_id)]
        return JSONResponse({**found, "at": at.isoformat(), "eos": states, "eos_rules": upcoming,
                             "upgrade_targets": found["upgrade_targets"]})

    return [Route("/catalog/items", items), Route("/catalog/items/{catalog_item_id}", item)]



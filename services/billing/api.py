"""Billing's HTTP reads: charge lines, calendar-month invoices and their reconciliation file."""
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from shared.auth import reader, sees
from shared.dates import month_after
from shared.http import error, whole
from shared.runtime import Runtime

from services.billing import storage
from services.billing.domain.charges import due_in

# BillingFrequency as the price list spells a billing plan (§2.2); blank for a trial's lines, never billed (§4.4)
_FREQUENCY = {"monthly": "Monthly", "annual": "Annual", "triennial": "Triennial"}
# Partner Center's reconciliation columns (domain.md §4.4) and where each comes from in a charge line.
RECON_COLUMNS: list[tuple[str, Any]] = [
    ("PartnerId", "partner_id"), ("CustomerId", "customer_id"), ("OrderId", "reference_id"),
    ("OrderDate", "order_date"), ("ProductId", lambda r: r["catalog_item_id"].split(":")[0]),
    ("SkuId", lambda r: r["catalog_item_id"].split(":")[1]),
    ("AvailabilityId", lambda r: r["catalog_item_id"].split(":")[2]), ("ChargeType", "charge_type"),
    ("UnitPrice", "unit_price"), ("EffectiveUnitPrice", "effective_unit_price"), ("Quantity", "quantity"),
    ("BillableQuantity", "quantity"), ("Subtotal", "amount"), ("TaxTotal", lambda r: "0.00"), ("Total", "amount"),
    ("Currency", "currency"), ("PricingCurrency", "pricing_currency"), ("PCToBCExchangeRate", "fx_rate"),
    ("PCToBCExchangeRateDate", "order_date"), ("ChargeStartDate", "charge_start"), ("ChargeEndDate", "charge_end"),
    ("SubscriptionStartDate", "term_start"), ("SubscriptionEndDate", "term_end"),
    ("BillingFrequency", lambda r: _FREQUENCY.get(r["billing_cycle"], "")), ("SubscriptionId", "subscription_id"),
    ("ReferenceId", "reference_id"),
    ("ProductQualifiers", lambda r: '["Trial"]' if r["billing_cycle"] == "none" else ""),
    ("PromotionID", "promotion_id"), ("PriceAdjustmentDescription", lambda r: ""),
]


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue()


def _position(text: str) -> storage.Position | None:
    """A position in order-date order as `next` gives it (YYYY-MM-DD.N), if it is one."""
    day, _, seq = text.partition(".")
    if not (seq.isascii() and seq.isdigit() and len(seq) < 19):
        return None
    try:
        return date.fromisoformat(day), int(seq)
    except ValueError:
        return None


def _next(position: storage.Position | None) -> dict[str, str]:
    return {"next": f"{position[0].isoformat()}.{position[1]}"} if position else {}


def _month(text: str) -> date | None:
    """The month YYYY-MM, if it is one whose end a date can hold (up to 9999-11)."""
    try:
        month = date.fromisoformat(f"{text}-01")
        month_after(month)
        return month
    except (ValueError, OverflowError):
        return None


def _partner_month(request: Request) -> tuple[str, date] | Response:
    """The invoice path's partner and month, or why not: 404 for another partner's (as if unknown), 400 for a bad
    month."""
    partner, month = request.path_params["partner_id"], _month(request.path_params["month"])
    if not sees(request, partner):
        return error(404, "unknown partner")
    if month is None:
        return error(400, "the month must be YYYY-MM")
    return partner, month


def _totals(lines: list[dict[str, Any]], start: dict[str, str] | None = None) -> dict[str, str]:
    """The lines' amounts summed per currency (added to `start`'s)."""
    totals: dict[str, Decimal] = {currency: Decimal(total) for currency, total in (start or {}).items()}
    for line in lines:
        totals[line["currency"]] = totals.get(line["currency"], Decimal(0)) + Decimal(line["amount"])
    return {currency: str(total) for currency, total in totals.items()}


def routes(rt: Runtime) -> list[BaseRoute]:
    async def lines(request: Request) -> JSONResponse:
        """---
        summary: Charge lines, filtered (at least one filter)
        parameters:
          - {name: subscription_id, in: query, schema: {type: string}}
          - {name: customer_id, in: query, schema: {type: string}}
          - {name: partner_id, in: query, schema: {type: string}}
          - {name: month, in: query, schema: {type: string, pattern: '^\\d{4}-\\d{2}$'},
             description: 'the invoice month, YYYY-MM'}
          - {name: after, in: query, schema: {type: string},
             description: "go on after this position: the `next` of the answer before"}
        responses:
          '200':
            description: >-
              The lines in order date order (amounts in the partner's currency, refunds negative), at most 100,000;
              when more follow, `next` names the position to ask for them from (`after`)
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    next: {type: string, description: present when more lines follow}
                    lines:
                      type: array
                      items:
                        type: object
                        properties:
                          line_id: {type: string}
                          subscription_id: {type: string}
                          customer_id: {type: string}
                          partner_id: {type: string}
                          catalog_item_id: {type: string}
                          charge_type: {type: string,
                                        examples: [new, renew, cycleCharge, addQuantity, removeQuantity, convert]}
                          charge_start: {type: string, format: date}
                          charge_end: {type: string, format: date}
                          quantity: {type: integer}
                          unit_price: {$ref: '#/components/schemas/Money'}
                          effective_unit_price: {$ref: '#/components/schemas/Money'}
                          amount: {$ref: '#/components/schemas/Money'}
                          currency: {type: string}
                          pricing_currency: {type: string}
                          fx_rate: {$ref: '#/components/schemas/Money'}
                          promotion_id: {type: [string, 'null']}
                          reference_id: {type: string}
                          order_date: {type: string, format: date}
                          invoice_month: {type: string, format: date}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        q = request.query_params
        filters = {k: q[k] for k in ("subscription_id", "customer_id", "partner_id") if q.get(k)}
        if (own := reader(request).partner_id) is not None:
            if filters.setdefault("partner_id", own) != own:
                return error(404, "unknown partner")
        month = None
        if q.get("month"):
            if (month := _month(q["month"])) is None:
                return error(400, "month must be YYYY-MM")
        if not filters and month is None:
            return error(400, "give subscription_id, customer_id, partner_id or month")
        after = None
        if q.get("after") and (after := _position(q["after"])) is None:
            return error(400, "after must be a position as `next` gives it (YYYY-MM-DD.N)")
        found, more = await storage.lines(rt.db(), filters, month, after)
        return JSONResponse({"lines": found, **_next(more)})

    async def _invoice(request: Request) -> dict[str, Any] | Response:
        if isinstance(asked := _partner_month(request), Response):
            return asked
        partner, month = asked
        found, more = await storage.lines(rt.db(), {"partner_id": partner}, month)
        issued = await storage.invoice(rt.db(), partner, month)
        if issued is None:
            totals, count = await storage.month_totals(rt.db(), partner, month)
            issued = {"partner_id": partner, "month": f"{month:%Y-%m}", "invoice_number": None, "status": "open",
                      "totals": totals, "lines": count}
        count = issued.pop("lines")  # the stored invoice's column holds the count; `lines` answers the lines
        return {**issued, "month": f"{month:%Y-%m}", "line_count": count, "lines": found, **_next(more)}

    async def invoice(request: Request) -> Response:
        """---
        summary: A partner's calendar-month invoice (open until the month has ended, then issued)
        parameters:
          - {name: partner_id, in: path, required: true, schema: {type: string}}
          - {name: month, in: path, required: true, schema: {type: string, pattern: '^\\d{4}-\\d{2}$'},
             example: 2025-01}
        responses:
          '200':
            description: The invoice and its lines
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    partner_id: {type: string}
                    month: {type: string}
                    invoice_number: {type: [string, 'null'], description: null while open}
                    status: {type: string, enum: [open, issued]}
                    totals: {type: object, additionalProperties: {$ref: '#/components/schemas/Money'},
                             description: per currency}
                    line_count: {type: integer, description: how many lines the month has (all of them)}
                    lines: {type: array, items: {type: object},
                            description: as GET /billing/lines, the first 100,000}
                    next: {type: string, description: "more lines follow: GET /billing/lines?partner_id=…&month=…&after=<next>"}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        found = await _invoice(request)
        return found if isinstance(found, Response) else JSONResponse(found)

    async def reconciliation(request: Request) -> Response:
        """---
        summary: The month's lines in Partner Center's reconciliation column layout
        parameters:
          - {name: partner_id, in: path, required: true, schema: {type: string}}
          - {name: month, in: path, required: true, schema: {type: string, pattern: '^\\d{4}-\\d{2}$'},
             example: 2025-01}
        responses:
          '200':
            description: CSV, one header row then one row per line
            content: {text/csv: {schema: {type: string}}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        if isinstance(asked := _partner_month(request), Response):
            return asked
        partner, month = asked

        async def rows() -> AsyncIterator[str]:  # every line, read a page at a time
            yield _csv([[name for name, _ in RECON_COLUMNS]])
            after: storage.Position | None = None
            while True:
                found, after = await storage.lines(rt.db(), {"partner_id": partner}, month, after)
                yield _csv([[source(line) if callable(source) else line[source] for _, source in RECON_COLUMNS]
                            for line in found])
                if after is None:
                    return

        return StreamingResponse(rows(), media_type="text/csv", headers={
            "content-disposition": f'attachment; filename="reconciliation-{partner}-{month:%Y-%m}.csv"'})

    async def preview(request: Request) -> Response:
        """What the month will bill if nothing changes: lines already there plus the cycles and renewals due.
        ---
        summary: What the month will bill if nothing changes
        parameters:
          - {name: partner_id, in: path, required: true, schema: {type: string}}
          - {name: month, in: path, required: true, schema: {type: string, pattern: '^\\d{4}-\\d{2}$'},
             example: 2025-01}
        responses:
          '200':
            description: The lines recorded so far and the cycle charges and renewals still due in the month
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    partner_id: {type: string}
                    month: {type: string}
                    status: {type: string, enum: [preview]}
                    totals: {type: object, additionalProperties: {$ref: '#/components/schemas/Money'}}
                    recorded: {type: array, items: {type: object}}
                    projected: {type: array, items: {type: object}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '409':
            description: A projected charge needs an FX rate that is not there yet
            content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        if isinstance(asked := _partner_month(request), Response):
            return asked
        partner, month = asked
        last = month_after(month) - timedelta(days=1)
        recorded, more = await storage.lines(rt.db(), {"partner_id": partner}, month)
        so_far, _ = await storage.month_totals(rt.db(), partner, month)
        first = max(month, (await rt.clock.now()).date() + timedelta(days=1))  # today's cycles have been charged
        try:
            projected = [
                {"subscription_id": p["subscription_id"], "customer_id": p["customer_id"],
                 "currency": p["billing_currency"], "pricing_currency": p["currency"],
                 **{k: str(v) for k, v in asdict(line).items()}}
                for p in await storage.active_plans(rt.db(), partner)
                for line in due_in(await storage.priced(rt.db(), p, first), p["quantity"], p["auto_renew"], first,
                                   last, p["full_price_seats"])
            ]
        except storage.MissingFxRateError as e:
            return error(409, str(e))
        return JSONResponse({"partner_id": partner, "month": f"{month:%Y-%m}", "status": "preview",
                             "totals": _totals(projected, so_far), "recorded": recorded, **_next(more),
                             "projected": projected})

    async def summary(request: Request) -> JSONResponse:
        """---
        summary: Per partner what is billed but not yet invoiced and the last three invoices; revenue per month
        parameters:
          - {name: months, in: query, schema: {type: integer, minimum: 1, maximum: 120, default: 12}}
        responses:
          '200':
            description: A partner token sees only its own partner
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    partners:
                      type: array
                      items:
                        type: object
                        properties:
                          partner_id: {type: string}
                          unbilled: {type: object, additionalProperties: {$ref: '#/components/schemas/Money'}}
                          last_invoices: {type: array, items: {type: object}}
                    revenue:
                      type: array
                      items:
                        type: object
                        properties: {month: {type: string}, currency: {type: string}, total: {$ref: '#/components/schemas/Money'}}
          '400': {$ref: '#/components/responses/BadRequest'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        months = request.query_params.get("months", "12")
        if not whole(months) or not 1 <= int(months) <= 120:
            return error(400, "months must be a whole number from 1 to 120")
        today = (await rt.clock.now()).date()
        return JSONResponse(await storage.summary(rt.db(), reader(request).partner_id, today, int(months)))

    return [
        Route("/billing/summary", summary),
        Route("/billing/invoices/{partner_id}/{month}/preview", preview),
        Route("/billing/lines", lines),
        Route("/billing/invoices/{partner_id}/{month}", invoice),
        Route("/billing/invoices/{partner_id}/{month}/reconciliation.csv", reconciliation),
    ]

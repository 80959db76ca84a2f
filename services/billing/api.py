"""Billing's HTTP reads: charge lines, calendar-month invoices and their reconciliation file."""
import csv
import io
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.auth import reader, sees
from shared.dates import month_after
from shared.http import error
from shared.runtime import Runtime

from services.billing import storage
from services.billing.domain.charges import due_in

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
    ("BillingFrequency", "billing_cycle"), ("SubscriptionId", "subscription_id"), ("ReferenceId", "reference_id"),
    ("ProductQualifiers", lambda r: '["Trial"]' if r["billing_cycle"] == "none" else ""),
    ("PromotionId", "promotion_id"), ("PriceAdjustmentDescription", lambda r: ""),
]


def _month(text: str) -> date | None:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError:
        return None


def _totals(lines: list[dict[str, Any]]) -> dict[str, str]:
    """The lines' amounts summed per currency."""
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line["currency"]] = totals.get(line["currency"], Decimal(0)) + Decimal(line["amount"])
    return {currency: str(total) for currency, total in totals.items()}


def routes(rt: Runtime) -> list[BaseRoute]:
    async def lines(request: Request) -> JSONResponse:
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
        return JSONResponse({"lines": await storage.lines(rt.db(), filters, month)})

    async def _invoice(request: Request) -> dict[str, Any] | Response:
        partner, month = request.path_params["partner_id"], _month(request.path_params["month"])
        if not sees(request, partner):
            return error(404, "unknown partner")
        if month is None:
            return error(400, "the month must be YYYY-MM")
        found = await storage.lines(rt.db(), {"partner_id": partner}, month)
        issued = await storage.invoice(rt.db(), partner, month)
        if issued is None:
            issued = {"partner_id": partner, "month": f"{month:%Y-%m}", "invoice_number": None, "status": "open",
                      "totals": _totals(found), "lines": len(found)}
        return {**issued, "month": f"{month:%Y-%m}", "line_items": found}

    async def invoice(request: Request) -> Response:
        found = await _invoice(request)
        return found if isinstance(found, Response) else JSONResponse(found)

    async def reconciliation(request: Request) -> Response:
        found = await _invoice(request)
        if isinstance(found, Response):
            return found
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([name for name, _ in RECON_COLUMNS])
        for line in found["line_items"]:
            values = [source(line) if callable(source) else line[source] for _, source in RECON_COLUMNS]
            writer.writerow(["" if v is None else v for v in values])
        return Response(out.getvalue(), media_type="text/csv", headers={
            "content-disposition": f'attachment; filename="reconciliation-{found["partner_id"]}-{found["month"]}.csv"'})

    async def preview(request: Request) -> Response:
        """What the month will bill if nothing changes: lines already there plus the cycles and renewals due."""
        partner, month = request.path_params["partner_id"], _month(request.path_params["month"])
        if not sees(request, partner):
            return error(404, "unknown partner")
        if month is None:
            return error(400, "the month must be YYYY-MM")
        last = month_after(month) - timedelta(days=1)
        recorded = await storage.lines(rt.db(), {"partner_id": partner}, month)
        first = max(month, (await rt.clock.now()).date() + timedelta(days=1))  # today's cycles have been charged
        try:
            projected = [
                {"subscription_id": p["subscription_id"], "customer_id": p["customer_id"],
                 "currency": p["billing_currency"], "pricing_currency": p["currency"],
                 **{k: str(v) for k, v in asdict(line).items()}}
                for p in await storage.active_plans(rt.db(), partner)
                for line in due_in(await storage.priced(rt.db(), p, first), p["quantity"], p["auto_renew"], first,
                                   last)
            ]
        except storage.MissingFxRateError as e:
            return error(409, str(e))
        return JSONResponse({"partner_id": partner, "month": f"{month:%Y-%m}", "status": "preview",
                             "totals": _totals([*recorded, *projected]), "recorded": recorded,
                             "projected": projected})

    async def summary(request: Request) -> JSONResponse:
        """Per partner: what is billed but not yet invoiced, the last invoices; and revenue per invoice month."""
        months = request.query_params.get("months", "12")
        if not months.isdigit() or not 1 <= int(months) <= 120:
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

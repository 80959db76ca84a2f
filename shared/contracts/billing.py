"""Messages of the billing area."""
from datetime import date
from decimal import Decimal

from shared.contracts.common import Currency, Data, Id


class ChargeCreated(Data):
    """billing.charge_created v1: one reconciliation line (amounts in the partner's currency, refunds negative)."""

    line_id: Id
    subscription_id: Id
    customer_id: Id
    partner_id: Id
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    unit_price: Decimal
    effective_unit_price: Decimal
    amount: Decimal
    currency: Currency
    pricing_currency: Currency
    fx_rate: Decimal
    promotion_id: str | None = None
    reference_id: Id
    order_date: date
    invoice_month: str


class InvoiceIssued(Data):
    """billing.invoice_issued v1: a partner's calendar month closed; its invoice never changes again."""

    invoice_number: str
    partner_id: Id
    month: str
    totals: dict[str, Decimal]  # per currency
    lines: int

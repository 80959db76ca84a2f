"""Messages of the billing area."""
from datetime import date
from decimal import Decimal

from shared.contracts.common import Currency, Data, Id, Money


class ChargeCreated(Data):
    line_id: Id
    subscription_id: Id
    customer_id: Id
    partner_id: Id
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    unit_price: Money
    effective_unit_price: Decimal
    amount: Decimal
    currency: Currency
    order_date: date

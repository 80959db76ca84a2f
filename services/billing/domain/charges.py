"""Charge lines and their money (domain.md §4.2, §4.3, §9.2, §9.7, §9.9): pure, Decimal only."""
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from shared.dates import CYCLE_MONTHS, TERM_MONTHS, period_end

CENT = Decimal("0.01")


def round_line(amount: Decimal) -> Decimal:
    """The one rounding rule (S13 'Subtotal'): round down to the cent, before multiplying by the quantity."""
    return amount.quantize(CENT, rounding=ROUND_DOWN)


def cycle_unit_price(unit_price: Decimal, term_duration: str, billing_cycle: str) -> Decimal:
    """The share of the term price one charge cycle carries (P1Y monthly: 1/12; P3Y annual: 1/3; §9.7)."""
    return unit_price * CYCLE_MONTHS[billing_cycle] / TERM_MONTHS[term_duration]


def first_cycle(term_start: date, billing_cycle: str) -> tuple[date, date]:
    return term_start, period_end(term_start, CYCLE_MONTHS[billing_cycle])


@dataclass(frozen=True)
class Charge:
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    unit_price: Decimal
    effective_unit_price: Decimal
    amount: Decimal
    fx_rate: Decimal


def prorated_charge(
    charge_type: str,
    cycle_price: Decimal,
    cycle: tuple[date, date],
    event_date: date,
    quantity: int,
    fx_rate: Decimal = Decimal(1),
) -> Charge:
    """EUP = cycle price / cycle days × billable days (event day billable); amount = ROUNDDOWN(EUP × FX) × qty."""
    start, end = cycle
    cycle_days = (end - start).days + 1
    billable_days = (end - event_date).days + 1
    eup = cycle_price * billable_days / cycle_days  # multiply first: a whole cycle stays exact
    return Charge(
        charge_type=charge_type,
        charge_start=event_date,
        charge_end=end,
        quantity=quantity,
        unit_price=cycle_price,
        effective_unit_price=eup,
        amount=round_line(eup * fx_rate) * quantity,
        fx_rate=fx_rate,
    )

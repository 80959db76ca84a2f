"""Charge cycles and charge lines (domain.md §4.2, §4.3, §4.4, §9.2, §9.3, §9.7, §9.9): pure, Decimal only.

A line covers [charge_start, charge_end] of one charge cycle: EUP = cycle price / cycle days × billable days (the
event day is billable), amount = ROUNDDOWN(EUP × FX, 2) × quantity — the one rounding rule, in `round_line`. Prices
are in the price list's currency, amounts in the partner's (FX = 1 when they are the same).
Refunds are negative amounts. Cycles are anchored to the term's start day and clamped at month ends; the last
cycle of a term cut short by a custom end date is charged for its days over the standard cycle's length.
"""
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, Context, Decimal, localcontext

from shared.dates import TERM_MONTHS, add_months, cycle_months, cycle_starts

CENT = Decimal("0.01")
EXACT = Context(prec=80)  # digits enough that a line's products (price × months × days × rate) are exact
SHOWN_PRICE, SHOWN_EUP = Decimal("0.000001"), Decimal("0.000000000001")  # as stored and shown; amounts use exact


def round_line(amount: Decimal) -> Decimal:
    """The one rounding rule (S13 'Subtotal', §9.2): down to the cent, before multiplying by the quantity."""
    return amount.quantize(CENT, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Plan:
    """What billing knows of a subscription's current term: enough to price any day of it."""

    term_duration: str
    billing_cycle: str  # monthly | annual | triennial | none (a trial: one cycle, the term)
    anchor: date  # the day cycles count from: the term's start (a partial-upgrade child: its parent's)
    term_end: date
    unit_price: Decimal  # the locked price of the whole term, per seat (§9.7)
    effective_unit_price: Decimal  # after the promotion, if any
    fx_rate: Decimal = Decimal(1)  # price currency → partner currency at the charge date
    promotion_id: str | None = None  # the one effective_unit_price has taken off unit_price

    @property
    def cycle_months(self) -> int:
        return cycle_months(self.term_duration, self.billing_cycle)

    def cycle_price(self, effective: bool = True) -> Decimal:
        """The share of the term price one cycle carries (P1Y monthly: 1/12; P3Y annual: 1/3)."""
        price = self.effective_unit_price if effective else self.unit_price
        return price * self.cycle_months / TERM_MONTHS[self.term_duration]

    def cycle(self, day: date) -> tuple[date, date, date]:
        """(start, standard end, end) of the cycle holding `day`; `end` stops at the term's end."""
        k = 0
        while add_months(self.anchor, (k + 1) * self.cycle_months) <= day:
            k += 1
        start = add_months(self.anchor, k * self.cycle_months)
        standard_end = add_months(self.anchor, (k + 1) * self.cycle_months) - timedelta(days=1)
        return start, standard_end, min(standard_end, self.term_end)

    def cycle_starts(self) -> list[date]:
        """Every cycle start after the first, up to the term's end (when `cycleCharge` lines fall due)."""
        return cycle_starts(self.anchor, self.term_end, self.cycle_months)


@dataclass(frozen=True)
class Line:
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    unit_price: Decimal  # the cycle's list price per seat (6 decimals)
    effective_unit_price: Decimal  # per seat for the days charged, after promotion (12 decimals)
    amount: Decimal  # signed, in the partner's currency: refunds are negative
    fx_rate: Decimal
    promotion_id: str | None = None


def charge(plan: Plan, charge_type: str, day: date, quantity: int, sign: int = 1) -> Line:
    """`quantity` seats from `day` to the end of its cycle (a refund when `sign` is -1)."""
    start, standard_end, end = plan.cycle(day)
    cycle_days = (standard_end - start).days + 1
    billable_days = (end - day).days + 1
    # One division of exact products, the rate among them: ROUNDDOWN would drop a cent where the exact value is on
    # one (4.00) but a rounded quotient lands a hair below it (3.999…9), as EUP × FX does when EUP was rounded first.
    with localcontext(EXACT):
        top, bottom = plan.effective_unit_price * plan.cycle_months * billable_days, \
            TERM_MONTHS[plan.term_duration] * cycle_days
        eup = top / bottom
        amount = round_line(top * plan.fx_rate / bottom) * quantity
    return Line(charge_type, day, end, quantity, plan.cycle_price(effective=False).quantize(SHOWN_PRICE),
                eup.quantize(SHOWN_EUP), -amount if sign < 0 and amount else amount, plan.fx_rate, plan.promotion_id)


def charges(plan: Plan, charge_type: str, day: date, quantity: int, full_price: int = 0, sign: int = 1) -> list[Line]:
    """`quantity` seats as `charge`, `full_price` of them at the unit price without the promotion (§2.5: seats added
    outside its window): a line for each price."""
    if not full_price or plan.promotion_id is None:
        return [charge(plan, charge_type, day, quantity, sign)]
    promoted = [charge(plan, charge_type, day, quantity - full_price, sign)] if quantity > full_price else []
    full = replace(plan, effective_unit_price=plan.unit_price, promotion_id=None)
    return [*promoted, charge(full, charge_type, day, min(full_price, quantity), sign)]


def quantity_change(plan: Plan, day: date, before: int, after: int, full_before: int = 0,
                    full_after: int = 0) -> list[Line]:
    """Wipe and recreate (§4.3): the cycle's rest for the old seats refunded, for the new seats charged."""
    charge_type = "addQuantity" if after > before else "removeQuantity"
    return [*charges(plan, charge_type, day, before, full_before, -1), *charges(plan, charge_type, day, after, full_after)]


def switch(old: Plan, new: Plan, quantity: int, day: date, charge_type: str, left_full: int = 0,
           joined_full: int = 0) -> tuple[list[Line], list[Line]]:
    """Seats leave one plan and join another on `day`: the old plan's rest refunded, the new plan's charged (how many
    of them are, or were, at the full price without the plan's promotion: `left_full`, `joined_full`)."""
    return (charges(old, charge_type, day, quantity, left_full, -1),
            charges(new, charge_type, day, quantity, joined_full))


def due_in(plan: Plan, quantity: int, auto_renew: bool, first: date, last: date, full_price: int = 0) -> list[Line]:
    """The lines that fall due between `first` and `last` if nothing changes: the term's later cycles starting then,
    and its renewal (at today's locked price: the price list may say otherwise on the day)."""
    lines = [line for start in plan.cycle_starts() if first <= start <= last
             for line in charges(plan, "cycleCharge", start, quantity, full_price)]
    renewal = plan.term_end + timedelta(days=1)
    if auto_renew and first <= renewal <= last:
        months = TERM_MONTHS[plan.term_duration]
        renewed = replace(plan, anchor=renewal, term_end=add_months(renewal, months) - timedelta(days=1))
        lines.append(charge(renewed, "renew", renewal, quantity))
    return lines


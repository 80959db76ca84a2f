"""Billing invariants over random inputs (hypothesis): what a cycle's lines add up to, whatever happens in it."""
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.billing.domain.charges import Plan, charge, quantity_change

PLANS = [("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual"), ("P3Y", "annual"), ("P3Y", "triennial")]


@st.composite
def cycles(draw):  # type: ignore[no-untyped-def]
    term, cycle = draw(st.sampled_from(PLANS))
    anchor = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    months = {"P1M": 1, "P1Y": 12, "P3Y": 36}[term]
    from shared.dates import period_end

    price = Decimal(draw(st.integers(0, 10_000_000))) / 100  # 0.00 .. 100,000.00 for the term
    plan = Plan(term, cycle, anchor, period_end(anchor, months), price, price)
    start, standard_end, end = plan.cycle(anchor)
    return plan, start, standard_end


def exact_cost(plan: Plan, start: date, standard_end: date, held: list[tuple[date, date, int]]) -> Fraction:
    """What the seats cost for the days each quantity was held, without rounding (an independent formula)."""
    term_months = {"P1M": 1, "P1Y": 12, "P3Y": 36}[plan.term_duration]
    per_day = Fraction(plan.effective_unit_price) * plan.cycle_months / term_months / ((standard_end - start).days + 1)
    return sum((per_day * ((until - since).days + 1) * q for since, until, q in held), Fraction(0))


@settings(max_examples=300, deadline=None)
@given(cycles(), st.lists(st.tuples(st.integers(0, 400), st.integers(1, 500)), max_size=6), st.integers(1, 500))
def test_the_lines_of_a_cycle_sum_to_what_each_quantity_cost_for_the_days_it_was_held(
        cycle, changes, first) -> None:  # type: ignore[no-untyped-def]
    plan, start, standard_end = cycle
    end = min(standard_end, plan.term_end)
    events = sorted((start + timedelta(days=offset % ((end - start).days + 1)), q) for offset, q in changes)
    lines = [charge(plan, "new", start, first)]
    quantity, since, held = first, start, []
    for day, new in events:
        if new == quantity:
            continue
        lines += quantity_change(plan, day, quantity, new)
        held.append((since, day - timedelta(days=1), quantity))
        quantity, since = new, day
    held.append((since, end, quantity))
    total = sum(line.amount for line in lines)
    exact = exact_cost(plan, start, standard_end, [(a, b, q) for a, b, q in held if b >= a])
    seats = first + sum(2 * q for _, q in events)
    assert total >= 0
    assert abs(Fraction(total) - exact) < Fraction(1, 100) * seats  # each line rounds down by under a cent a seat
    assert all(line.charge_end == end for line in lines)


@settings(max_examples=300, deadline=None)
@given(cycles(), st.integers(0, 6), st.integers(1, 500))
def test_a_subscription_cancelled_in_its_window_pays_only_for_the_days_it_was_used(
        cycle, used_days, quantity) -> None:  # type: ignore[no-untyped-def]
    plan, start, standard_end = cycle
    day = start + timedelta(days=used_days)
    new = charge(plan, "new", start, quantity)
    refund = charge(plan, "cancelImmediate", day, quantity, -1)
    total = new.amount + refund.amount
    exact = exact_cost(plan, start, standard_end, [(start, day - timedelta(days=1), quantity)])
    assert refund.amount <= 0 <= total
    assert abs(Fraction(total) - exact) < Fraction(2, 100) * quantity
    if used_days == 0:
        assert total == 0  # cancelled the day it started: refunded in full (§9.3)

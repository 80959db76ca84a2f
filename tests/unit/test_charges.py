"""Charge cycles and lines (domain.md §4.2, §4.3, §9.2, §9.7, §9.9): exact to the cent."""
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from math import floor

from services.billing.domain.charges import Plan, charge, quantity_change, round_line, switch

D = Decimal


def plan(start: date, end: date, price: str, cycle: str = "monthly", term: str = "P1Y", effective: str | None = None):  # type: ignore[no-untyped-def]
    return Plan(term, cycle, start, end, D(price), D(effective or price))


def test_cycle_prices_are_shares_of_the_term_price() -> None:
    assert plan(date(2025, 1, 1), date(2025, 12, 31), "72").cycle_price() == D("6")
    assert plan(date(2025, 1, 1), date(2027, 12, 31), "360", "annual", "P3Y").cycle_price() == D("120")
    assert plan(date(2025, 1, 1), date(2027, 12, 31), "360", "triennial", "P3Y").cycle_price() == D("360")


def test_cycles_are_anchored_to_the_start_day_and_clamped_at_month_ends() -> None:
    p = plan(date(2021, 1, 31), date(2022, 1, 30), "120")
    assert [p.cycle(d)[:2] for d in (date(2021, 1, 31), date(2021, 2, 28), date(2021, 3, 31))] == [
        (date(2021, 1, 31), date(2021, 2, 27)), (date(2021, 2, 28), date(2021, 3, 30)),
        (date(2021, 3, 31), date(2021, 4, 29))]
    assert p.cycle_starts()[:3] == [date(2021, 2, 28), date(2021, 3, 31), date(2021, 4, 30)]
    assert len(p.cycle_starts()) == 11


def test_a_full_cycle_is_the_cycle_price_rounded_down_per_seat() -> None:
    line = charge(plan(date(2025, 1, 31), date(2026, 1, 30), "100"), "new", date(2025, 1, 31), 3)  # 8.3333…
    assert (line.charge_start, line.charge_end) == (date(2025, 1, 31), date(2025, 2, 27))
    assert line.amount == D("24.99")  # ROUNDDOWN(8.3333…, 2) × 3, not ROUND(25.00)


def test_a_mid_cycle_change_bills_the_days_left_including_the_event_day_as_wipe_and_recreate() -> None:
    p = plan(date(2025, 1, 1), date(2025, 12, 31), "372")  # 31 a month
    removed, added = quantity_change(p, date(2025, 1, 22), 2, 5)
    assert (removed.charge_type, removed.effective_unit_price, removed.amount) == ("addQuantity", D("10"), D("-20.00"))
    assert (added.quantity, added.amount, added.charge_end) == (5, D("50.00"), date(2025, 1, 31))


def test_an_upfront_short_first_term_is_charged_for_its_days_of_the_standard_term() -> None:
    p = plan(date(2025, 3, 1), date(2025, 12, 31), "365", "annual")  # custom end: 306 days of 365
    line = charge(p, "new", date(2025, 3, 1), 1)
    assert (line.charge_end, line.amount) == (date(2025, 12, 31), D("306.00"))


def test_rounding_is_down_to_the_cent() -> None:
    assert round_line(D("1.999")) == D("1.99")


def test_an_exchange_rate_never_drops_a_cent_off_an_amount_exactly_on_one() -> None:
    """§9.2: ROUNDDOWN(EUP × FX, 2) of the exact values: 40/12 × 1.65 is 5.50, not 5.49 from a rounded 3.3333…"""
    converted = replace(plan(date(2025, 1, 1), date(2025, 12, 31), "40"), fx_rate=D("1.65"))
    assert charge(converted, "new", date(2025, 1, 1), 10).amount == D("55.00")
    april = replace(monthly_term(date(2025, 4, 1), "10.00"), fx_rate=D("1.62"))  # 1 day of 30: 10/30 × 1.62 = 0.54
    assert charge(april, "addQuantity", date(2025, 4, 30), 1).amount == D("0.54")
    for rate in ("0.9", "1.59", "1.62", "1.65", "1.74", "133.7"):  # against exact fractions, every day of a cycle
        for price in ("10.00", "40", "72", "12.99", "365"):
            p = replace(plan(date(2025, 1, 1), date(2025, 12, 31), price), fx_rate=D(rate))
            for day in range(1, 32):
                exact = Fraction(price) / 12 * (32 - day) / 31 * Fraction(rate)
                assert charge(p, "x", date(2025, 1, day), 1).amount == D(floor(exact * 100)) / 100, (rate, price, day)


# Partner Center's worked examples (S12, "NCE billing scenarios"; 10 seats of a EUR 10.08 monthly term)
def monthly_term(start: date, price: str) -> Plan:
    from shared.dates import period_end

    return Plan("P1M", "monthly", start, period_end(start, 1), D(price), D(price))


def test_s12_purchase_and_prepaid_annual() -> None:
    assert charge(monthly_term(date(2021, 6, 18), "10.08"), "new", date(2021, 6, 18), 10).amount == D("100.80")
    annual = Plan("P1Y", "annual", date(2021, 6, 18), date(2022, 6, 17), D("120.96"), D("120.96"))
    line = charge(annual, "new", date(2021, 6, 18), 10)
    assert (line.charge_end, line.amount) == (date(2022, 6, 17), D("1209.60"))


def test_s12_cancellation_on_the_third_day_refunds_29_of_31_days() -> None:
    line = charge(monthly_term(date(2021, 7, 15), "10.08"), "cancelImmediate", date(2021, 7, 17), 10, -1)
    assert (line.charge_start, line.charge_end, line.amount) == (date(2021, 7, 17), date(2021, 8, 14), D("-94.20"))


def test_s12_full_and_partial_upgrade_refund_the_source_and_charge_the_target_for_23_of_30_days() -> None:
    source, target = monthly_term(date(2021, 6, 18), "10.08"), monthly_term(date(2021, 6, 18), "6.43")
    (refund,), (added,) = switch(source, target, 300, date(2021, 6, 25), "convert")
    assert [(x.charge_type, x.amount) for x in (refund, added)] == [("convert", D("-2316.00")), ("convert", D("1476.00"))]
    (refund,), (added,) = switch(source, target, 100, date(2021, 6, 25), "convert")
    assert [refund.amount, added.amount] == [D("-772.00"), D("492.00")]


def test_s12_a_trial_converted_the_day_it_started_is_charged_the_whole_cycle() -> None:
    assert charge(monthly_term(date(2021, 6, 25), "52.61"), "convert", date(2021, 6, 25), 25).amount == D("1315.25")


def test_exact_arithmetic_keeps_a_whole_cycle_whole() -> None:
    assert charge(monthly_term(date(2021, 6, 1), "4"), "new", date(2021, 6, 1), 1).amount == D("4.00")
    assert charge(Plan("P1Y", "annual", date(2021, 6, 18), date(2022, 6, 17), D("120.96"), D("120.96")), "new",
                  date(2021, 6, 18), 1).amount == D("120.96")


def test_what_falls_due_in_a_month_if_nothing_changes() -> None:
    from services.billing.domain.charges import due_in

    monthly = plan(date(2026, 1, 15), date(2027, 1, 14), "75.60")
    due = due_in(monthly, 10, True, date(2026, 3, 1), date(2026, 3, 31))
    assert [(x.charge_type, x.charge_start, x.amount) for x in due] == [("cycleCharge", date(2026, 3, 15), D("63.00"))]
    renewing = due_in(monthly, 10, True, date(2027, 1, 1), date(2027, 1, 31))
    assert [(x.charge_type, x.charge_start, x.charge_end) for x in renewing] == [
        ("renew", date(2027, 1, 15), date(2027, 2, 14))]
    assert due_in(monthly, 10, False, date(2027, 1, 1), date(2027, 1, 31)) == []  # auto-renew off: it expires


def test_seats_added_after_a_promotions_window_are_charged_the_unit_price_on_a_line_of_their_own() -> None:
    promoted = Plan("P1M", "monthly", date(2025, 1, 1), date(2025, 1, 31), D("31"), D("24.8"),
                    promotion_id="P:0001:X")  # 20 % off
    lines = quantity_change(promoted, date(2025, 1, 22), 5, 8, 0, 3)  # 10 of 31 days left
    assert [(x.quantity, x.amount, x.promotion_id) for x in lines] == [
        (5, D("-40.00"), "P:0001:X"), (5, D("40.00"), "P:0001:X"), (3, D("30.00"), None)]
    refunds, added = switch(promoted, promoted, 8, date(2025, 1, 22), "convert", 3, 8)
    assert [(x.quantity, x.amount, x.promotion_id) for x in refunds] == [(5, D("-40.00"), "P:0001:X"),
                                                                          (3, D("-30.00"), None)]
    assert [(x.quantity, x.amount, x.promotion_id) for x in added] == [(8, D("80.00"), None)]
    assert [x.quantity for x in quantity_change(promoted, date(2025, 1, 22), 8, 3, 3, 0)] == [5, 3, 3]
    undiscounted = Plan("P1M", "monthly", date(2025, 1, 1), date(2025, 1, 31), D("31"), D("31"))
    assert len(quantity_change(undiscounted, date(2025, 1, 22), 5, 8, 0, 3)) == 2  # no promotion: one line each way

"""Scheduling next-term changes against End-of-Sale states (domain.md §5.2 rows 10, 13, 14; §9.4)."""
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.subscription.domain.purchase import Offer, Subscription
from services.subscription.domain.renewal import renew
from services.subscription.domain.scheduled import NextTerm, schedule
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SOURCE, TARGET = "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL"
PLANS = frozenset({("P1Y", "annual"), ("P1Y", "monthly"), ("P3Y", "annual")})
SUB = Subscription("S1", "P1", "C1", SOURCE, "P1Y", "annual", 10, True, date(2026, 1, 1), date(2026, 12, 31),
                   NOW, Decimal("72"), "USD", "US")


def attempt(target: str, term: str = "P1Y", cycle: str = "annual", state: str | None = None, **kw: object) -> str:
    eos = EosRule(target.split(":")[0], None, None, None, None, state, date(2026, 1, 1)) if state else None
    try:
        schedule(sub=kw.get("sub", SUB), status=kw.get("status", "active"),  # type: ignore[arg-type]
                 upgrade_targets=["CFQ7TTC0LDPB:0001"],
                 target=Offer(target, frozenset({"US"}), PLANS, 1, 300,
                              segment=kw.get("offer_segment", "commercial")),  # type: ignore[arg-type]
                 wanted=NextTerm(target, term, cycle, 10, NOW, kw.get("end")), eos=eos,  # type: ignore[arg-type]
                 kind=kw.get("kind", "license"), segment=kw.get("segment", "commercial"))  # type: ignore[arg-type]
        return "OK"
    except CommandRejectedError as e:
        return e.code


@pytest.mark.parametrize("target, term, cycle, state, expected", [
    (TARGET, "P1Y", "annual", None, "OK"),
    (TARGET, "P1Y", "annual", "EndOfSale", "10001"),  # row 10: a SKU change into EOS
    (TARGET, "P1Y", "annual", "EndOfSaleWithConversions", "OK"),  # row 10: into EOSwC is allowed
    (TARGET, "P3Y", "annual", "EndOfSaleWithConversions", "10001"),  # row 14 / §9.4: a term change into EOSwC
    (SOURCE, "P1Y", "monthly", "EndOfSale", "OK"),  # row 13: billing frequency only, on an EOS source
    (SOURCE, "P3Y", "annual", "EndOfSale", "10001"),  # row 14: a term change into EOS
    (TARGET, "P1Y", "annual", "EndOfLife", "10001"),
])
def test_eos_rows_for_scheduled_changes(target: str, term: str, cycle: str, state: str | None, expected: str) -> None:
    assert attempt(target, term, cycle, state) == expected


def test_row_16_a_software_subscription_cannot_schedule_into_an_end_of_sale_billing_plan() -> None:
    assert attempt(SOURCE, "P1Y", "monthly", "EndOfSale", kind="software_subscription") == "10001"
    assert attempt(SOURCE, "P1Y", "monthly", None, kind="software_subscription") == "OK"  # before the date


def test_a_custom_term_end_date_is_scheduled_only_for_a_license_section_3_7() -> None:
    assert attempt(SOURCE, end=date(2027, 12, 31)) == "OK"  # the next term's standard end, a month end
    assert attempt(SOURCE, end=date(2027, 12, 31), kind="software_subscription") == "900244"
    assert attempt(SOURCE, end=date(2027, 12, 31), kind="perpetual") == "900244"


def test_no_schedule_without_auto_renew_and_no_downgrade_or_sideways_move() -> None:
    from dataclasses import replace

    assert attempt(TARGET, sub=replace(SUB, auto_renew=False)) == "800093"
    assert attempt("CFQ7TTC0LFLZ:0001:CFQ7TTC0K5ZZ") == "900260"


def test_a_renewal_applies_the_scheduled_offer_plan_and_quantity() -> None:
    renewed = renew(SUB, datetime(2027, 1, 1, tzinfo=UTC), Decimal("150"), NextTerm(TARGET, "P1Y", "monthly", 20, NOW))
    assert (renewed.catalog_item_id, renewed.billing_cycle, renewed.quantity) == (TARGET, "monthly", 20)
    assert (renewed.term_start, renewed.term_end, renewed.unit_price) == (date(2027, 1, 1), date(2027, 12, 31),
                                                                         Decimal("150"))


def test_a_promotion_carries_into_a_renewal_only_inside_its_window() -> None:
    from dataclasses import replace

    from shared.rules.prices import Promo

    promo = Promo("39NFJQT1PJQB:0001:39NFJQT1Q5KN", "CFQ7TTC0LH18", "0001", "P1Y", "annual", frozenset({"US"}),
                  Decimal("0.15"), date(2025, 1, 1), date(2027, 1, 1), 1, 300, 1, True)
    promoted = replace(SUB, promotion_id=promo.promotion_id, effective_unit_price=Decimal("61.2"))
    inside = renew(promoted, datetime(2027, 1, 1, tzinfo=UTC), Decimal("72"), None, promo)  # renews on 2027-01-01
    assert (inside.promotion_id, inside.effective_unit_price) == (promo.promotion_id, Decimal("61.20"))
    later = renew(replace(promoted, term_end=date(2027, 1, 1)), datetime(2027, 1, 2, tzinfo=UTC), Decimal("72"),
                  None, promo)
    assert (later.promotion_id, later.effective_unit_price) == (None, Decimal("72"))
    upgraded = renew(promoted, datetime(2027, 1, 1, tzinfo=UTC), Decimal("150"), NextTerm(TARGET, "P1Y", "annual",
                     10, NOW), promo)
    assert upgraded.promotion_id is None  # the promotion is for the old SKU


def test_a_custom_end_date_is_checked_for_the_next_term_and_applied_at_renewal() -> None:
    def end(day: date, others: list[tuple[date, str]] | None = None) -> str:
        try:
            schedule(sub=SUB, status="active", upgrade_targets=[], target=Offer(SOURCE, frozenset({"US"}), PLANS, 1, 300),
                     wanted=NextTerm(SOURCE, "P1Y", "annual", 10, NOW, day), eos=None, others=others,
                     segment="commercial")
            return "OK"
        except CommandRejectedError as e:
            return e.code

    assert end(date(2027, 6, 30)) == "OK"  # a month end inside the next term (2027-01-01 to 2027-12-31)
    assert end(date(2027, 6, 15)) == "900242"
    assert end(date(2027, 6, 15), [(date(2027, 6, 15), "P1Y")]) == "OK"  # another subscription's end
    assert end(date(2027, 6, 15), [(date(2027, 6, 15), "P1M")]) == "900242"  # P1Y never to a P1M end
    assert end(date(2028, 1, 31)) == "900245"  # past the next term
    assert end(date(2026, 12, 31)) == "900245"  # still the current term
    renewed = renew(SUB, datetime(2027, 1, 1, tzinfo=UTC), Decimal("72"),
                    NextTerm(SOURCE, "P1Y", "annual", 10, NOW, date(2027, 6, 30)))
    assert (renewed.term_start, renewed.term_end) == (date(2027, 1, 1), date(2027, 6, 30))


def test_a_renewal_keeps_its_promotion_in_window_and_auto_applies_another_within_the_limits() -> None:
    from dataclasses import replace

    from shared.rules.prices import Promo, Redeemed

    def promo(pid: str, discount: str, end: date, limit: int = 1, top: int = 300) -> Promo:
        return Promo(pid, "CFQ7TTC0LH18", "0001", "P1Y", "annual", frozenset({"US"}), Decimal(discount),
                     date(2025, 1, 1), end, 1, top, limit, True)

    held, other = promo("HELD", "0.15", date(2027, 6, 30)), promo("OTHER", "0.10", date(2027, 12, 31))
    promoted = replace(SUB, promotion_id="HELD", effective_unit_price=Decimal("61.2"))
    at = datetime(2027, 1, 1, tzinfo=UTC)
    # the deeper one, held, stays (the redemptions passed are those of the customer's other subscriptions)
    assert renew(promoted, at, Decimal("72"), None, held, [held, other], {}).promotion_id == "HELD"
    # past HELD's window, OTHER is auto-applied unless the customer's other subscriptions have used it up
    later = replace(promoted, term_end=date(2027, 7, 31))
    assert renew(later, at, Decimal("72"), None, held, [held, other], {}).effective_unit_price == Decimal("64.80")
    assert renew(later, at, Decimal("72"), None, held, [held, other], {"OTHER": Redeemed(1, 10)}).promotion_id is None
    # nor when its other subscriptions hold so many seats under it that these would pass its maximum (§2.5)
    assert renew(later, at, Decimal("72"), None, held, [held, other], {"OTHER": Redeemed(0, 291)}).promotion_id is None
    # a next term of more seats than the promotion allows renews at the list price
    more = NextTerm(SOURCE, "P1Y", "annual", 301, NOW)
    assert renew(promoted, at, Decimal("72"), more, held, [held, other], {}).promotion_id is None
    # but seats it holds past the maximum (moved in by upgrades) keep the held one up to it, the rest at list price
    past = replace(promoted, quantity=350, full_price_seats=50)
    kept = renew(past, at, Decimal("72"), None, held, [held, other], {})
    assert (kept.promotion_id, kept.quantity, kept.full_price_seats) == ("HELD", 350, 50)
    twice = promo("HELD", "0.15", date(2027, 6, 30), limit=2)
    shared = renew(past, at, Decimal("72"), None, twice, [twice, other], {"HELD": Redeemed(1, 100)})
    assert (shared.promotion_id, shared.full_price_seats) == ("HELD", 150)  # its other subscriptions took 100
    assert renew(replace(past, term_end=date(2027, 7, 31)), at, Decimal("72"), None, held, [held], {}).promotion_id \
        is None  # out of its window


def test_a_change_goes_only_into_an_offer_sold_to_the_customers_segment() -> None:
    """§1.7: an upgrade path into an education offer is no way round its eligibility (10001, as at purchase)."""
    assert attempt(TARGET, offer_segment="education") == "10001"
    assert attempt(TARGET, offer_segment="education", segment="education") == "OK"
    assert attempt(TARGET, segment="education") == "10001"
    assert attempt(SOURCE, segment="education") == "OK"  # its own offer (seats, plan): sold to it already

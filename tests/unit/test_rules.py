"""The domain rules the skeleton already carries: term dates, purchase checks, charge money."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.catalog.domain.offers import check_offer
from services.scheduler.domain.timers import term_end_instant
from services.subscription.domain import purchase as rules
from shared.dates import add_months
from shared.rejection import CommandRejectedError

NOW = datetime(2025, 1, 31, 15, 30, tzinfo=UTC)
CUSTOMER = rules.Customer("C1", "P1", "US", "USD")
OFFER = rules.Offer("CFQ7TTC0LH18:0001:CFQ7TTC0K971", frozenset({"US"}), frozenset({("P1Y", "monthly")}), 1, 300)


def test_month_arithmetic_clamps_to_the_end_of_shorter_months() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)


@pytest.mark.parametrize("start, term, end", [
    (date(2025, 1, 15), "P1M", date(2025, 2, 14)),
    (date(2025, 1, 15), "P1Y", date(2026, 1, 14)),
    (date(2025, 1, 15), "P3Y", date(2028, 1, 14)),
    (date(2025, 1, 31), "P1M", date(2025, 2, 27)),
])
def test_a_term_ends_the_day_before_the_same_date_a_term_later(start: date, term: str, end: date) -> None:
    assert rules.term_end(start, term) == end


def test_a_term_ended_event_stands_for_midnight_after_the_inclusive_end() -> None:
    assert term_end_instant(date(2026, 1, 14)) == datetime(2026, 1, 15, tzinfo=UTC)


def buy(**overrides):  # type: ignore[no-untyped-def]
    args = dict(now=NOW, subscription_id="S1", customer=CUSTOMER, offer=OFFER, unit_price=Decimal("72"),
                term_duration="P1Y", billing_cycle="monthly", quantity=5, auto_renew=True)
    return rules.purchase(**{**args, **overrides})


def test_a_purchase_starts_today_locks_the_price_and_opens_a_168_hour_window() -> None:
    s = buy()
    assert (s.term_start, s.term_end) == (date(2025, 1, 31), date(2026, 1, 30))
    assert s.cancellation_allowed_until == datetime(2025, 2, 7, 15, 30, tzinfo=UTC)
    assert (s.unit_price, s.currency, s.market) == (Decimal("72"), "USD", "US")


@pytest.mark.parametrize("overrides, code", [
    ({"customer": None}, "UNKNOWN_CUSTOMER"),
    ({"offer": None}, "10001"),
    ({"customer": rules.Customer("C1", "P1", "DE", "EUR")}, "10001"),
    ({"customer": rules.Customer("C1", "P1", "US", "USD", "education")}, "10001"),  # §1.7: a commercial offer
    ({"billing_cycle": "annual"}, "900270"),
    ({"quantity": 301}, "900275"),
    ({"unit_price": None}, "NO_PRICE"),
])
def test_a_purchase_that_breaks_a_rule_is_rejected_with_its_code(overrides, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandRejectedError) as caught:
        buy(**overrides)
    assert caught.value.code == code


def test_an_offer_with_a_billing_cycle_longer_than_its_term_is_refused() -> None:
    with pytest.raises(CommandRejectedError) as caught:
        check_offer([("P1M", "annual")], 1, 10, trial=False)
    assert caught.value.code == "900270"


def test_an_offer_past_its_end_of_sale_date_or_a_legacy_offer_is_not_sold() -> None:
    from shared.rules.eos import EosRule

    rule = EosRule("CFQ7TTC0LH18", None, None, None, None, "EndOfSale", date(2025, 1, 1))
    with pytest.raises(CommandRejectedError) as caught:
        buy(eos=rule)
    assert caught.value.code == "10001" and "EndOfSale in US since 2025-01-01" in caught.value.message
    legacy = rules.Offer(OFFER.catalog_item_id, OFFER.markets, OFFER.plans, 1, 300, legacy=True)
    with pytest.raises(CommandRejectedError) as caught:
        buy(offer=legacy)
    assert caught.value.code == "LEGACY_OFFER"


def test_perpetual_software_never_renews_and_is_refundable_for_30_days() -> None:
    from dataclasses import replace

    s = buy(offer=replace(OFFER, kind="perpetual"))
    assert s.auto_renew is False
    assert s.cancellation_allowed_until == NOW + timedelta(days=30)
    with pytest.raises(CommandRejectedError) as refused:
        buy(offer=replace(OFFER, kind="software_subscription"), custom_term_end=date(2025, 12, 31))
    assert refused.value.code == "900244"  # custom term end dates are for license-based subscriptions only

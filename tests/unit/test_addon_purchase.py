"""An add-on is sold only to a customer holding an active subscription of a prerequisite SKU (domain.md §1.3, §9.1)."""
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.subscription.domain import purchase as rules
from shared.rejection import CommandRejectedError

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
CUSTOMER = rules.Customer("C1", "P1", "US", "USD")
ADDON = rules.Offer("CFQ7TTC0LHXG:0001:CFQ7TTC0K9PD", frozenset({"US"}), frozenset({("P1Y", "monthly")}), 1, 300,
                    addon_prerequisites=frozenset({"CFQ7TTC0LH18:0001", "CFQ7TTC0LDPB:0001"}))


def buy(offer: rules.Offer = ADDON, bases: list[tuple[date, str]] | None = None) -> rules.Subscription:
    return rules.purchase(now=NOW, subscription_id="A1", customer=CUSTOMER, offer=offer, unit_price=Decimal(2),
                          term_duration="P1Y", billing_cycle="monthly", quantity=5, auto_renew=True,
                          bases=bases or [])


def refused(bases: list[tuple[date, str]]) -> CommandRejectedError:
    with pytest.raises(CommandRejectedError) as caught:
        buy(bases=bases)
    return caught.value


def test_an_addon_without_an_active_base_is_refused_with_400041() -> None:
    error = refused([])
    assert (error.code, error.message) == ("400041", "The addon is not purchasable without a compatible base product")


def test_an_addon_is_sold_to_a_customer_holding_an_active_base_on_a_term_covering_the_day() -> None:
    assert buy(bases=[(date(2025, 3, 10), "license")]).catalog_item_id == ADDON.catalog_item_id  # its last day
    assert buy(bases=[(date(2024, 1, 1), "perpetual")]).quantity == 5  # perpetual software has no term to end


def test_an_addon_whose_only_base_has_a_term_end_still_being_handled_is_retried_with_409() -> None:
    """The base may renew or expire at its term end (§3.5): the partner retries, as for a command on the base."""
    error = refused([(date(2025, 3, 9), "license")])
    assert error.code == "409" and "retry after 2 minutes" in error.message


def test_an_offer_with_no_prerequisites_needs_no_base() -> None:
    assert buy(offer=replace(ADDON, addon_prerequisites=frozenset())).subscription_id == "A1"

"""An add-on is sold only to a customer holding an active subscription of a prerequisite SKU (domain.md §1.3, §9.1),
through the real kernel and PostgreSQL: the outcome a partner sees and what is stored."""
import asyncio
from typing import Any

import pytest

from tests.integration.test_command_sequences import BASIC, World, offer, prices
from tests.integration.test_midterm_rules import command

pytestmark = pytest.mark.integration
ADDON = "CFQ7TTC0LHXG:0001:CFQ7TTC0K9PD"  # the sample's Defender for Office 365 (Plan 1)
NO_BASE = ("subscription.command_rejected", "400041", "The addon is not purchasable without a compatible base product")


async def buy(w: World, name: str, item: str = ADDON) -> dict[str, Any]:
    return await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                         term_duration="P1Y", billing_cycle="annual", quantity=5)


def outcome(event: dict[str, Any]) -> tuple[str, ...]:
    return (event["type"], event["data"]["code"], event["data"]["message"]) \
        if event["type"].endswith("command_rejected") else (event["type"],)


async def stored(w: World, name: str) -> tuple[int, int]:
    """The subscription rows and seat batches held under the id."""
    row = await w.pool.fetchrow("""SELECT (SELECT count(*) FROM subscriptions WHERE subscription_id = $1),
                                          (SELECT count(*) FROM seat_batches WHERE subscription_id = $1)""",
                                w.sub(name))
    return tuple(row)  # type: ignore[return-value]


async def addons(database_url: str) -> None:
    w = await World().start(database_url)
    try:
        await w.deliver("nce.catalog.events", "catalog.offer_published", {
            **offer(ADDON, []), "addon_prerequisites": ["CFQ7TTC0LH18:0001", "CFQ7TTC0LDPB:0001"]}, "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(ADDON, "24"), "US")

        assert outcome(await buy(w, "A1")) == NO_BASE  # no base at all
        assert await stored(w, "A1") == (0, 0)

        assert outcome(await buy(w, "S1", BASIC)) == ("subscription.created",)
        assert outcome(await buy(w, "A1")) == ("subscription.created",)
        assert await stored(w, "A1") == (1, 1)

        suspended = await command(w, "subscription.suspend", subscription_id=w.sub("S1"))
        assert suspended["type"] == "subscription.suspended"
        assert outcome(await buy(w, "A2")) == NO_BASE  # a suspended base is not active; the add-on A1 is no base
        assert await stored(w, "A2") == (0, 0)

        await command(w, "subscription.reactivate", subscription_id=w.sub("S1"))
        assert outcome(await buy(w, "A2")) == ("subscription.created",)
    finally:
        await w.pool.close()


def test_an_addon_is_sold_only_to_a_customer_holding_an_active_base_section_9_1(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(addons(base_infra.database_url))

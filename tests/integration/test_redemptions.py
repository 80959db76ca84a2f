"""A promotion's redemption limit counts every promotion a customer's subscriptions ever took (domain.md §2.5:
"RedemptionLimit is per customer", "Cancelled seats count against the limit"), in the subscription service that
decides and in pricing's quotes alike: through the real kernels on real PostgreSQL, pricing reading what the
subscription service wrote to its outbox."""
import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.pricing import storage as pricing_storage
from services.pricing.app import SERVICE as PRICING
from shared.clock import SimulatedClock
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from shared.rules.prices import Redeemed
from tests.conftest import migrated_pool
from tests.integration.test_command_sequences import offer, prices
from tests.integration.test_midterm_rules import command, held, promotion, world

pytestmark = pytest.mark.integration


async def redemptions(base_infra) -> None:  # type: ignore[no-untyped-def]
    w = await world(base_infra.database_url)
    pricing = await migrated_pool(base_infra, "pricing")
    try:
        run = w.run_id.upper()
        item, limited = f"ZZZZ{run}:0001:ZZZZ{run}", f"ZZZZ{run}:0001:LIMITEDONCE1"
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(item, []), "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(item, "72"), "US")
        await w.deliver("nce.pricing.events", "pricing.promotion_published",
                        {**promotion(limited, item, "P1Y", "annual", "0.20"), "redemption_limit": 1}, "p")
        first = await command(w, "subscription.purchase", subscription_id=w.sub("S1"), catalog_item_id=item,
                              term_duration="P1M", billing_cycle="monthly", quantity=5)
        assert first["data"]["promotion_id"] is None  # no promotion for P1M
        yearly = await command(w, "subscription.change_term", subscription_id=w.sub("S1"), term_duration="P1Y",
                               billing_cycle="annual")
        assert yearly["data"]["promotion_id"] == limited  # a term change takes it: its one redemption
        longer = await command(w, "subscription.change_term", subscription_id=w.sub("S1"), term_duration="P3Y",
                               billing_cycle="triennial")
        assert longer["data"]["promotion_id"] is None  # and gives it up, but it stays redeemed
        second = await command(w, "subscription.purchase", subscription_id=w.sub("S2"), catalog_item_id=item,
                               term_duration="P1Y", billing_cycle="annual", quantity=5)
        assert (second["data"]["promotion_id"], Decimal(second["data"]["effective_unit_price"])) == (None, Decimal(72))
        assert (await held(w, w.sub("S2")))["promotion_id"] is None

        # pricing, reading the same events, counts the same redemption for its quotes
        reader = Consumer(PRICING.handlers, pricing, SimulatedClock(await w.clock.now()), max_bytes=1_000_000)
        for n, row in enumerate(await w.pool.fetch(
                "SELECT key, headers, payload FROM outbox WHERE topic = 'nce.subscription.events' ORDER BY id")):
            headers = tuple((k, v.encode()) for k, v in json.loads(row["headers"]))
            if json.loads(row["payload"])["data"].get("customer_id") == w.customer:
                await reader.handle(Record("nce.subscription.events", 0, n, row["key"], row["payload"], headers))
        assert await pricing_storage.redeemed(pricing, w.customer) == {limited: Redeemed(1, 5)}
    finally:
        await pricing.close()
        await w.pool.close()


def test_a_promotion_given_up_stays_redeemed_and_pricing_counts_what_the_subscription_service_does(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(redemptions(base_infra))


async def seat_maximum(base_infra) -> None:  # type: ignore[no-untyped-def]
    w = await world(base_infra.database_url)
    try:
        run = w.run_id.upper()
        item, twice = f"XXXX{run}:0001:XXXX{run}", f"XXXX{run}:0001:TWICEUPTO20S"
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(item, []), "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(item, "72"), "US")
        await w.deliver("nce.pricing.events", "pricing.promotion_published", {
            **promotion(twice, item, "P1Y", "annual", "0.20", max_quantity=20), "redemption_limit": 2}, "p")

        async def buy(name: str, seats: int) -> str | None:
            bought = await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                                   term_duration="P1Y", billing_cycle="annual", quantity=seats)
            return bought["data"]["promotion_id"]

        assert await buy("S1", 12) == twice
        assert await buy("S2", 10) is None  # 12 + 10 seats would pass its maximum of 20, across the customer's
        assert await buy("S3", 8) == twice  # 12 + 8 = 20
        more = await command(w, "subscription.change_quantity", subscription_id=w.sub("S1"), quantity=13)
        assert (more["type"], more["data"]["code"]) == ("subscription.command_rejected", "900275")
        assert "8 of them on the customer's other subscriptions" in more["data"]["message"]
        cancelled = await command(w, "subscription.cancel", subscription_id=w.sub("S3"))
        assert cancelled["type"] == "subscription.cancelled"
        fewer = await command(w, "subscription.change_quantity", subscription_id=w.sub("S1"), quantity=13)
        assert fewer["data"]["code"] == "900275"  # S3's cancelled seats still count (§2.5)
        # seats an upgrade moves into S1 inside the window: none left under the maximum, so all at the unit price
        source = f"VVVV{run}:0001:VVVV{run}"
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(source, [f"XXXX{run}:0001"]), "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(source, "50"), "US")
        await command(w, "subscription.purchase", subscription_id=w.sub("S4"), catalog_item_id=source,
                      term_duration="P1Y", billing_cycle="annual", quantity=6)
        await w.clock.set(await w.clock.now() + timedelta(days=8))
        moved = await command(w, "subscription.transition", subscription_id=w.sub("S4"), target_catalog_item_id=item,
                              quantity=6, target_subscription_id=w.sub("S1"))
        assert (moved["type"], moved["data"]["target_quantity_after"], moved["data"]["target"]["full_price_seats"]) == \
            ("subscription.transitioned", 18, 6), moved
    finally:
        await w.pool.close()


def test_a_promotions_seat_maximum_counts_every_seat_the_customer_took_under_it(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§2.5: "Seat min/max limits are enforced across partners for the same customer … Cancelled seats count"."""
    asyncio.run(seat_maximum(base_infra))


async def renewed_together(base_infra) -> None:  # type: ignore[no-untyped-def]
    w = await world(base_infra.database_url)
    try:
        run = w.run_id.upper()
        item, once = f"WWWW{run}:0001:WWWW{run}", f"WWWW{run}:0001:ONCEATRENEWL"
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(item, []), "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(item, "72"), "US")
        await w.deliver("nce.pricing.events", "pricing.promotion_published",
                        {**promotion(once, item, "P1Y", "annual", "0.20"), "redemption_limit": 1}, "p")
        for name in ("S1", "S2"):  # cotermed, P1M (no promotion), each scheduled into P1Y annual (one)
            await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                          term_duration="P1M", billing_cycle="monthly", quantity=5)
            scheduled = await command(w, "subscription.schedule_change", subscription_id=w.sub(name),
                                      term_duration="P1Y", billing_cycle="annual")
            assert scheduled["type"] == "subscription.change_scheduled", scheduled
        await w.clock.set(datetime(2025, 2, 1, 0, 0, 30, tzinfo=UTC))
        await w.deliver("nce.scheduler.events", "scheduler.terms_ended", {
            "customer_id": w.customer, "instant": "2025-02-01T00:00:00Z",
            "terms": [{"subscription_id": w.sub(n), "term_end": "2025-01-31"} for n in ("S1", "S2")]}, w.customer)
        held_now = [(await held(w, w.sub(n)))["promotion_id"] for n in ("S1", "S2")]
        assert held_now == [once, None]  # renewed in one transaction, yet only one redemption (its limit)
    finally:
        await w.pool.close()


def test_terms_renewed_together_do_not_take_a_promotion_past_its_limit(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(renewed_together(base_infra))

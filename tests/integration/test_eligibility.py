"""Who may hold what (domain.md §1.7): offers and promotions by customer segment, and a product:SKU's pooled
per-customer maximum however seats come to it; through the real kernel and PostgreSQL."""
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.test_command_sequences import STANDARD, BASIC, World, offer, prices
from tests.integration.test_midterm_rules import command, promotion, terms_ended, with_trial, world

pytestmark = pytest.mark.integration


async def segments(database_url: str) -> None:
    w = await World().start(database_url)
    run = w.run_id.upper()
    item, edu = f"SSSS{run}:0001:SSSS{run}", f"EEEE{run}:0001:EEEE{run}"
    commercial = promotion(f"EEEE{run}:0001:AAAAAAAAAAA1", edu, "P1M", "monthly", "0.10")  # no segment: commercial
    education = {**promotion(f"EEEE{run}:0001:AAAAAAAAAAA2", edu, "P1M", "monthly", "0.05"), "segment": "education"}
    try:
        for p in (commercial, education):
            await w.deliver("nce.pricing.events", "pricing.promotion_published", p, p["product_id"])
        for i, segment, up in ((item, "commercial", [f"EEEE{run}:0001"]), (edu, "education", [])):
            await w.deliver("nce.catalog.events", "catalog.offer_published", {**offer(i, up), "segment": segment}, "p")
            await w.deliver("nce.pricing.events", "pricing.prices_published", prices(i, "72"), "US")
        school = f"E-{w.run_id}"
        registered = await command(w, "customer.register", partner_id=f"P-{w.run_id}", customer_id=school,
                                   name="School", country="US", segment="education")
        assert registered["type"] == "customer.registered"

        def buy(name: str, customer: str, catalog_item_id: str) -> Any:
            return command(w, "subscription.purchase", subscription_id=w.sub(name), customer_id=customer,
                           catalog_item_id=catalog_item_id, term_duration="P1M", billing_cycle="monthly", quantity=5)

        refused = await buy("S1", w.customer, edu)
        assert refused["data"]["code"] == "10001", refused
        assert "sold to education customers; this customer is commercial" in refused["data"]["message"]
        assert (await buy("S2", school, item))["data"]["code"] == "10001"
        assert (await buy("S3", w.customer, item))["type"] == "subscription.created"
        for how in ("immediate", "at_renewal"):  # an upgrade path is no way round the segment
            moved = await command(w, "subscription.transition", subscription_id=w.sub("S3"),
                                  target_catalog_item_id=edu, quantity=5, when=how)
            assert (moved["data"]["code"], moved["data"]["message"]) == (
                "10001", f"{edu} is sold to education customers; this customer is commercial"), moved
        taught = await buy("S4", school, edu)  # the deeper promotion is a commercial one (§1.7): not the school's
        assert taught["type"] == "subscription.created", taught["data"]
        assert taught["data"]["promotion_id"] == education["promotion_id"]
        await w.clock.set(datetime(2025, 2, 1, 0, 0, 30, tzinfo=UTC))
        await terms_ended(w, "2025-02-01T00:00:00Z", "S4", customer=school)
        renewed = await w.pool.fetchrow("SELECT term_start, promotion_id FROM subscriptions WHERE subscription_id = $1",
                                        w.sub("S4"))
        assert (str(renewed["term_start"]), renewed["promotion_id"]) == ("2025-02-01", education["promotion_id"])
    finally:
        await w.pool.close()


def test_offers_and_promotions_go_to_customers_of_their_segment(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§1.7: an education offer is sold to education customers only (bought, or upgraded or scheduled into), and the
    (commercial) promotions are not given to education customers, at purchase or renewal."""
    asyncio.run(segments(base_infra.database_url))


async def pooled_maximum(database_url: str) -> None:
    w = await world(database_url)
    try:
        for name, item, seats in (("S1", BASIC, 100), ("S2", BASIC, 100), ("S3", STANDARD, 290)):
            bought = await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                                   term_duration="P1M", billing_cycle="monthly", quantity=seats)
            assert bought["type"] == "subscription.created", bought["data"]

        async def code(type_: str, **data: Any) -> str:
            out = await command(w, type_, **data)
            return out["data"]["code"] if out["type"].endswith("command_rejected") else out["type"]

        refused = await command(w, "subscription.schedule_change", subscription_id=w.sub("S1"), quantity=250)
        assert refused["data"]["message"] == "The requested number of 250 seats exceeds the remaining limit of 200 seats"
        assert await code("subscription.transition", subscription_id=w.sub("S1"), target_catalog_item_id=STANDARD,
                          quantity=20) == "800088"  # S3 holds 290 of STANDARD's 300
        assert await code("subscription.transition", subscription_id=w.sub("S1"), target_catalog_item_id=STANDARD,
                          quantity=20, when="at_renewal") == "800088"
        assert await code("subscription.schedule_change", subscription_id=w.sub("S1"), quantity=200) == \
            "subscription.change_scheduled"  # its own 100 seats are replaced: 200 + S2's 100
        # S2 grows into the room S1's scheduled change counted on, and fills BASIC's
        assert await code("subscription.change_quantity", subscription_id=w.sub("S2"), quantity=200) == \
            "subscription.quantity_changed"
        await with_trial(w)  # 25 seats of BASIC's trial, whose paid equivalent is BASIC
        assert await code("subscription.convert_trial", subscription_id=w.sub("T1"), quantity=25) == "800088"
        await w.clock.set(datetime(2025, 2, 1, 0, 0, 30, tzinfo=UTC))
        await terms_ended(w, "2025-02-01T00:00:00Z", *("S1", "S2", "S3", "T1"))
        held = {r["subscription_id"]: (r["status"], r["quantity"]) for r in await w.pool.fetch(
            "SELECT subscription_id, status, quantity FROM subscriptions WHERE customer_id = $1", w.customer)}
        assert held[w.sub("S1")] == ("active", 100)  # renewed without the change that no longer fits
        assert held[w.sub("T1")] == ("expired", 25)  # 25 more seats of BASIC would pass its 300
        events = [json.loads(r["payload"]) for r in await w.pool.fetch("SELECT payload FROM outbox")]
        dropped = [e["data"]["reason"] for e in events if e["type"] == "subscription.scheduled_change_cancelled"
                   and e["data"]["subscription_id"] == w.sub("S1")]
        assert dropped == ["pooled_limit"]
        assert [e["data"]["reason"] for e in events if e["type"] == "subscription.expired"] == ["trial_not_convertible"]
    finally:
        await w.pool.close()


def test_the_pooled_maximum_holds_for_scheduled_changes_upgrades_and_trial_conversions(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§1.7: a product:SKU's pooled per-customer maximum (800088) holds whatever way seats come to it: scheduled for
    the next term, moved in by an upgrade, or converted from a trial; a scheduled change that no longer fits at
    renewal is dropped (`pooled_limit`) and the renewal goes on without it."""
    asyncio.run(pooled_maximum(base_infra.database_url))

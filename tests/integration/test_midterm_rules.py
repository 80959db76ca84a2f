"""Mid-term changes against the rules of domain.md §2.5 (promotions) and §3.6 (scheduled changes), through the real
kernel and PostgreSQL: what a partner sees on the subscription and in the command's outcome."""
import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.subscription.app import SERVICE as SUBSCRIPTION
from shared.clock import SimulatedClock
from shared.messaging.consumer import Consumer
from tests.integration.test_command_sequences import BASIC, STANDARD, World, offer, prices

pytestmark = pytest.mark.integration
COMMANDS = "nce.subscription.commands"


def promotion(promotion_id: str, item: str, term: str, cycle: str, discount: str, max_quantity: int = 300,
              end_date: str = "2026-12-31") -> dict:  # type: ignore[type-arg]
    product, sku, _ = item.split(":")
    return {"promotion_id": promotion_id, "name": promotion_id, "product_id": product, "sku_id": sku,
            "term_duration": term, "billing_cycle": cycle, "markets": ["US"], "discount": discount,
            "start_date": "2024-01-01", "end_date": end_date, "max_quantity": max_quantity,
            "redemption_limit": 5}


async def world(database_url: str, *promotions: dict) -> World:  # type: ignore[type-arg]
    w = await World().start(database_url)
    for p in promotions:
        await w.deliver("nce.pricing.events", "pricing.promotion_published", p, p["product_id"])
    return w


async def command(w: World, type_: str, **data: Any) -> dict[str, Any]:
    """Send a command; its one outcome (the event it caused that is not a side effect)."""
    if type_ == "subscription.purchase":
        data = {"customer_id": w.customer, "catalog_item_id": BASIC, **data}
    sent = await w.deliver(COMMANDS, type_, data, w.customer)
    caused = [json.loads(r["payload"]) for r in await w.pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    return next(e for e in caused if e["causation_id"] == sent and not e["type"].endswith("scheduled_change_cancelled"))


async def terms_ended(w: World, instant: str, *names: str, customer: str | None = None) -> None:
    """The scheduler's term end at `instant` (00:00Z) for the named subscriptions, whose terms ended the day before."""
    last_day = str(datetime.fromisoformat(instant).date() - timedelta(days=1))
    customer = customer or w.customer
    await w.deliver("nce.scheduler.events", "scheduler.terms_ended", {
        "customer_id": customer, "instant": instant,
        "terms": [{"subscription_id": w.sub(n), "term_end": last_day} for n in names]}, customer)


async def held(w: World, name: str) -> dict[str, Any]:
    row = await w.pool.fetchrow("""SELECT quantity, promotion_id, effective_unit_price, scheduled_change
                                   FROM subscriptions WHERE subscription_id = $1""", name)
    return dict(row)


async def term_change(database_url: str) -> None:
    w = await world(database_url, promotion("PROMOP1MMONT:0001:AAAAAAAAAAAA", BASIC, "P1M", "monthly", "0.10"),
                    promotion("PROMOP1YANNU:0001:AAAAAAAAAAAA", BASIC, "P1Y", "annual", "0.20"))
    try:
        for name in ("S1", "S2"):
            bought = await command(w, "subscription.purchase", subscription_id=w.sub(name), term_duration="P1M",
                                   billing_cycle="monthly", quantity=5)
            assert bought["data"]["promotion_id"] == "PROMOP1MMONT:0001:AAAAAAAAAAAA"
        # to P1Y annual: that plan's promotion; to P3Y: none, and the P1M one is dropped (§2.5)
        yearly = await command(w, "subscription.change_term", subscription_id=w.sub("S1"), term_duration="P1Y",
                               billing_cycle="annual")
        longer = await command(w, "subscription.change_term", subscription_id=w.sub("S2"), term_duration="P3Y",
                               billing_cycle="triennial")
        assert [yearly["type"], longer["type"]] == ["subscription.term_changed"] * 2
        assert (yearly["data"]["promotion_id"], Decimal(yearly["data"]["effective_unit_price"])) == \
            ("PROMOP1YANNU:0001:AAAAAAAAAAAA", Decimal("57.6"))  # 72 less 20 %
        assert (longer["data"]["promotion_id"], Decimal(longer["data"]["effective_unit_price"])) == \
            (None, Decimal(72))
        s1, s2 = await held(w, w.sub("S1")), await held(w, w.sub("S2"))
        assert (s1["promotion_id"], s1["effective_unit_price"]) == ("PROMOP1YANNU:0001:AAAAAAAAAAAA", Decimal("57.6"))
        assert (s2["promotion_id"], s2["effective_unit_price"]) == (None, Decimal(72))
    finally:
        await w.pool.close()


def test_a_term_change_takes_the_new_plans_promotion_and_drops_the_old_one(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(term_change(base_infra.database_url))


async def promotion_maximum(database_url: str) -> None:
    w = await world(database_url, promotion("PROMOP1MMONT:0001:BBBBBBBBBBBB", BASIC, "P1M", "monthly", "0.10", 10))
    try:
        await command(w, "subscription.purchase", subscription_id=w.sub("S1"), term_duration="P1M",
                      billing_cycle="monthly", quantity=5)
        past = await command(w, "subscription.change_quantity", subscription_id=w.sub("S1"), quantity=11)
        assert past["type"] == "subscription.command_rejected"
        assert past["data"]["code"] == "900275"
        assert "discount applied" in past["data"]["message"]
        up_to = await command(w, "subscription.change_quantity", subscription_id=w.sub("S1"), quantity=10)
        assert up_to["type"] == "subscription.quantity_changed"
        assert (await held(w, w.sub("S1")))["quantity"] == 10
    finally:
        await w.pool.close()


def test_seats_past_the_promotions_maximum_are_refused_section_2_5(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(promotion_maximum(base_infra.database_url))


async def upgrades(database_url: str) -> None:
    w = await world(database_url, promotion("PROMOSTDANNU:0001:CCCCCCCCCCCC", STANDARD, "P1Y", "annual", "0.25"))
    try:
        for name, item, seats in (("S1", BASIC, 10), ("S2", BASIC, 5), ("S3", STANDARD, 20)):
            await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                          term_duration="P1Y", billing_cycle="annual", quantity=seats)
        # a partial upgrade's new subscription takes the target offer's promotion (§2.5: mid-term upgrades)
        moved = await command(w, "subscription.transition", subscription_id=w.sub("S1"),
                              target_catalog_item_id=STANDARD, quantity=4)
        child = moved["data"]["target"]
        assert (child["promotion_id"], Decimal(child["effective_unit_price"])) == \
            ("PROMOSTDANNU:0001:CCCCCCCCCCCC", Decimal("112.5"))  # 150 less 25 %
        # seats moved into an existing subscription are a quantity change of it: its scheduled change goes (§3.6),
        # or its renewal would set it back to the scheduled 20 seats and lose the 5 moved in
        scheduled = await command(w, "subscription.schedule_change", subscription_id=w.sub("S3"), quantity=20)
        assert scheduled["type"] == "subscription.change_scheduled"
        await w.clock.set(await w.clock.now() + timedelta(hours=168, seconds=1))
        into = await command(w, "subscription.transition", subscription_id=w.sub("S2"),
                             target_catalog_item_id=STANDARD, quantity=5, target_subscription_id=w.sub("S3"))
        assert into["type"] == "subscription.transitioned"
        s3 = await held(w, w.sub("S3"))
        assert (s3["quantity"], s3["scheduled_change"]) == (25, None)
        cancelled = [json.loads(r["payload"]) for r in await w.pool.fetch("SELECT payload FROM outbox ORDER BY id")]
        assert [(e["data"]["subscription_id"], e["data"]["reason"]) for e in cancelled  # the database is shared
                if e["type"] == "subscription.scheduled_change_cancelled" and e["data"]["customer_id"] == w.customer
                ] == [(w.sub("S3"), "transitioned")]
    finally:
        await w.pool.close()


def test_upgrades_take_the_targets_promotion_and_wipe_an_existing_targets_scheduled_change(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(upgrades(base_infra.database_url))


TRIAL, OTHER = "CFQ7TTC0LH18:0002:CFQ7TTC0TRL1", "CFQ7TTC0LFLZ:0001:CFQ7TTC0K5ZZ"


async def with_trial(w: World) -> None:
    """Business Basic's trial offer (and an unrelated offer) published and priced, and trial T1 of 25 seats bought."""
    await w.deliver("nce.catalog.events", "catalog.offer_published", {
        **offer(TRIAL, []), "plans": [{"term_duration": "P1M", "billing_cycle": "none"}], "min_quantity": 25,
        "max_quantity": 25, "trial": True}, "p")
    await w.deliver("nce.catalog.events", "catalog.offer_published", offer(OTHER, []), "p")
    await w.deliver("nce.pricing.events", "pricing.prices_published", prices(OTHER, "30"), "US")
    await w.deliver("nce.pricing.events", "pricing.prices_published", {**prices(TRIAL, "0"), "rows": [
        {**prices(TRIAL, "0")["rows"][0], "term_duration": "P1M", "billing_cycle": "none"}]}, "US")
    bought = await command(w, "subscription.purchase", subscription_id=w.sub("T1"), catalog_item_id=TRIAL,
                           term_duration="P1M", billing_cycle="none", quantity=25)
    assert bought["type"] == "subscription.created"


async def trial_conversions(database_url: str) -> None:
    w = await World().start(database_url)
    try:
        await with_trial(w)

        async def convert(item: str, term: str = "P1Y", cycle: str = "monthly", when: str = "immediate") -> str:
            out = await command(w, "subscription.convert_trial", subscription_id=w.sub("T1"), catalog_item_id=item,
                                quantity=25, term_duration=term, billing_cycle=cycle, when=when)
            return out["data"]["code"] if out["type"].endswith("command_rejected") else out["type"]

        # §3.8: into its paid SKU or a higher tier only, on a plan the offer has (§1.2: 900270)
        assert await convert(OTHER) == "900260"
        assert await convert(OTHER, when="at_renewal") == "900260"
        assert await convert(BASIC, "P1M", "annual", when="at_renewal") == "900270"
        assert await convert(STANDARD) == "subscription.trial_converted"  # BASIC's upgrade target: a higher tier
    finally:
        await w.pool.close()


def test_a_trial_converts_only_into_its_paid_sku_or_a_higher_tier_on_a_plan_it_has_section_3_8(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(trial_conversions(base_infra.database_url))


async def renewal_in_progress(database_url: str) -> None:
    w = await world(database_url)
    try:
        bought = await command(w, "subscription.purchase", subscription_id=w.sub("S1"), term_duration="P1M",
                               billing_cycle="monthly", quantity=5)
        assert bought["data"]["term_end"] == "2025-01-31"
        await w.clock.set(datetime(2025, 2, 1, 0, 0, 30, tzinfo=UTC))  # the term has ended; its renewal not handled
        for type_, data in (("subscription.change_quantity", {"quantity": 6}), ("subscription.cancel", {}),
                            ("subscription.set_auto_renew", {"enabled": False}), ("subscription.suspend", {})):
            refused = await command(w, type_, subscription_id=w.sub("S1"), **data)
            assert (refused["type"], refused["data"]["code"]) == ("subscription.command_rejected", "409"), refused
            assert "retry after 2 minutes" in refused["data"]["message"]
        await w.clock.set(datetime(2025, 2, 3, 10, 0, tzinfo=UTC))  # the renewal handled late (the scheduler was down)
        await terms_ended(w, "2025-02-01T00:00:00Z", "S1")
        window = await w.pool.fetchval("SELECT cancellation_allowed_until FROM subscriptions"
                                       " WHERE subscription_id = $1", w.sub("S1"))
        assert window == datetime(2025, 2, 10, 10, 0, tzinfo=UTC)  # 7 days from the renewal's completion, not 02-01
        # a cancellation another instance stamped at 23:59:59, outside the first term's window, handled only now
        stamped = datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC)
        other = Consumer(SUBSCRIPTION.handlers, w.pool, SimulatedClock(stamped), max_bytes=1_000_000,
                         max_backoff_s=0.01)
        record = w.record(COMMANDS, "subscription.cancel", {"subscription_id": w.sub("S1")}, w.customer, stamped)
        await other.handle(record)
        late = next(json.loads(r["payload"]) for r in await w.pool.fetch("SELECT payload FROM outbox ORDER BY id")
                    if json.loads(r["payload"])["causation_id"] == json.loads(record.value)["id"])
        assert (late["data"]["code"], late["data"]["message"]) == ("409", (  # not a refund of the new term's seats
            "the command was received at 2025-01-31T23:59:59+00:00, before the subscription's current term began on "
            "2025-02-01; retry")), late
        changed = await command(w, "subscription.change_quantity", subscription_id=w.sub("S1"), quantity=6)
        assert changed["type"] == "subscription.quantity_changed", changed
        row = await w.pool.fetchrow("SELECT quantity, auto_renew, status, term_start FROM subscriptions"
                                    " WHERE subscription_id = $1", w.sub("S1"))
        assert tuple(row) == (6, True, "active", datetime(2025, 2, 1).date())  # renewed with auto-renew still on
    finally:
        await w.pool.close()


def test_a_subscription_whose_term_end_is_being_handled_refuses_commands_with_409_section_3_5(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§3.5: from the term end until its renewal is handled, 409, and the new 7-day window starts when it completes;
    §9.13: a command stamped before the renewal that reaches the renewed subscription is not applied to the new term
    (409, retried with a new stamp)."""
    asyncio.run(renewal_in_progress(base_infra.database_url))


async def trial_end_after_end_of_sale(database_url: str) -> None:
    w = await world(database_url)
    product = f"QQQQ{w.run_id.upper()}"  # this test's own: End-of-Sale rules are shared by the database
    paid, trial = f"{product}:0001:{product}", f"{product}:0002:{product}"
    try:
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(paid, []), "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(paid, "72"), "US")
        await w.deliver("nce.catalog.events", "catalog.offer_published", {
            **offer(trial, []), "plans": [{"term_duration": "P1M", "billing_cycle": "none"}], "trial": True}, "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", {**prices(trial, "0"), "rows": [
            {**prices(trial, "0")["rows"][0], "term_duration": "P1M", "billing_cycle": "none"}]}, "US")
        bought = await command(w, "subscription.purchase", subscription_id=w.sub("T1"), catalog_item_id=trial,
                               term_duration="P1M", billing_cycle="none", quantity=25)
        assert bought["type"] == "subscription.created", bought["data"]
        scheduled = await command(w, "subscription.convert_trial", subscription_id=w.sub("T1"), quantity=25,
                                  term_duration="P1Y", billing_cycle="monthly", when="at_renewal")
        assert scheduled["type"] == "subscription.change_scheduled", scheduled
        # after it was scheduled: the paid plan reaches End of Sale, the trial's own SKU End of Life
        for sku, state in (("0001", "EndOfSale"), ("0002", "EndOfLife")):
            await w.deliver("nce.catalog.events", "catalog.eos_changed", {
                "product_id": product, "sku_id": sku, "state": state, "effective_date": "2025-01-15"}, product)
        await w.clock.set(datetime(2025, 2, 1, 0, 0, 30, tzinfo=UTC))
        await terms_ended(w, "2025-02-01T00:00:00Z", "T1")
        row = await w.pool.fetchrow("SELECT catalog_item_id, status, term_duration, billing_cycle, term_start"
                                    " FROM subscriptions WHERE subscription_id = $1", w.sub("T1"))
        assert tuple(row) == (paid, "active", "P1Y", "monthly", datetime(2025, 2, 1).date())
    finally:
        await w.pool.close()


def test_a_trial_converts_as_scheduled_though_its_paid_plan_reached_end_of_sale_since(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§5.1: a change scheduled before an End of Sale is honoured (the conversion was checked when scheduled); the
    trial's own SKU reaching End of Life does not stop it converting (§5.2: a move out to another offer)."""
    asyncio.run(trial_end_after_end_of_sale(base_infra.database_url))


async def seats_joining(database_url: str) -> None:
    w = await world(database_url, promotion("PROMOSTDANNU:0001:DDDDDDDDDDDD", STANDARD, "P1Y", "annual", "0.25",
                                            end_date="2025-01-31"),
                    promotion("PROMOBASANNU:0001:DDDDDDDDDDDD", BASIC, "P1Y", "annual", "0.10"))
    try:
        for name, item in (("S1", BASIC), ("S2", BASIC), ("S3", STANDARD)):
            bought = await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                                   term_duration="P1Y", billing_cycle="annual", quantity=10)
            assert bought["data"]["promotion_id"] is not None
        await w.clock.set(datetime(2025, 2, 10, tzinfo=UTC))  # S3's promotion ended on Jan 31; the windows passed
        await with_trial(w)
        into = await command(w, "subscription.transition", subscription_id=w.sub("S1"),
                             target_catalog_item_id=STANDARD, quantity=4, target_subscription_id=w.sub("S3"))
        assert (into["data"]["target_quantity_after"], into["data"]["target"]["full_price_seats"]) == (14, 4)
        converted = await command(w, "subscription.convert_trial", subscription_id=w.sub("T1"), quantity=25,
                                  target_subscription_id=w.sub("S2"))  # inside its promotion's window, yet no
        assert (converted["data"]["quantity"], converted["data"]["full_price_seats"]) == (35, 25)  # promotion (§3.8)
        more = await command(w, "subscription.change_quantity", subscription_id=w.sub("S2"), quantity=36)
        assert (more["data"]["full_price_seats_before"], more["data"]["full_price_seats"]) == (25, 25)  # in window
    finally:
        await w.pool.close()


def test_seats_joining_an_existing_subscription_take_its_promotion_only_as_an_increase_would(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§2.5: seats moved in by an upgrade after the target's promotion window pay the full price; §3.8: seats
    converted from a trial never take a promotion."""
    asyncio.run(seats_joining(base_infra.database_url))


async def renewal_promotions(database_url: str) -> None:
    w = await world(database_url)
    run = w.run_id.upper()  # offers and promotions of this test's own, as promotions are shared by the database
    item, other = f"ZZZZ{run}:0001:ZZZZ{run}", f"YYYY{run}:0001:YYYY{run}"  # `other` has no price in the market
    for p in (promotion(f"ZZZZ{run}:0001:AAAAAAAAAAA1", item, "P1M", "monthly", "0.10", end_date="2025-01-31"),
              promotion(f"ZZZZ{run}:0001:AAAAAAAAAAA2", item, "P1M", "monthly", "0.05", end_date="2026-12-31"),
              promotion(f"ZZZZ{run}:0001:AAAAAAAAAAA3", item, "P1Y", "annual", "0.20")):
        await w.deliver("nce.pricing.events", "pricing.promotion_published", p, p["product_id"])
    try:
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(other, []), "p")
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(item, [f"YYYY{run}:0001"]), "p")
        await w.deliver("nce.pricing.events", "pricing.prices_published", prices(item, "72"), "US")
        for name in ("S1", "S2", "S3"):
            bought = await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                                   term_duration="P1M", billing_cycle="monthly", quantity=5)
            assert bought["data"]["promotion_id"] == f"ZZZZ{run}:0001:AAAAAAAAAAA1"  # the deepest, 10 %
        yearly = await command(w, "subscription.schedule_change", subscription_id=w.sub("S2"), term_duration="P1Y",
                               billing_cycle="annual")
        assert yearly["type"] == "subscription.change_scheduled", yearly
        unpriced = await command(w, "subscription.schedule_change", subscription_id=w.sub("S3"),
                                 catalog_item_id=other)
        assert (unpriced["type"], unpriced["data"]["code"]) == ("subscription.command_rejected", "NO_PRICE")
        assert "no USD price for 5 seats of " + other in unpriced["data"]["message"]
        ended = f"XXXX{run}:0001:XXXX{run}"  # an upgrade target whose only row closed before S3's renewal
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(ended, []), "p")
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(item, [f"YYYY{run}:0001",
                                                                                      f"XXXX{run}:0001"]), "p")
        closed = prices(ended, "50")
        closed["rows"] = [{**r, "effective_start": "2024-01-01", "effective_end": "2025-01-15"} for r in closed["rows"]]
        await w.deliver("nce.pricing.events", "pricing.prices_published", closed, "US")
        gone = await command(w, "subscription.schedule_change", subscription_id=w.sub("S3"), catalog_item_id=ended)
        assert (gone["type"], gone["data"]["code"]) == ("subscription.command_rejected", "NO_PRICE"), gone
        # a change accepted before the price check existed: S2's, pointed at the unpriced offer
        stored = (await held(w, w.sub("S2")))["scheduled_change"]
        await w.pool.execute("UPDATE subscriptions SET scheduled_change = $2 WHERE subscription_id = $1",
                             w.sub("S3"), stored.replace(item, other))
        await w.clock.set(datetime(2025, 2, 1, 0, 0, 30, tzinfo=UTC))
        await terms_ended(w, "2025-02-01T00:00:00Z", *("S1", "S2", "S3"))
        s1, s2, s3 = [await held(w, w.sub(n)) for n in ("S1", "S2", "S3")]
        # S1: its 10 % ended with January; the 5 % one, still running, is applied to the renewal (§2.5)
        assert (s1["promotion_id"], s1["effective_unit_price"]) == (f"ZZZZ{run}:0001:AAAAAAAAAAA2", Decimal("68.4"))
        # S2: its next term, P1Y annual, takes that plan's promotion
        assert (s2["promotion_id"], s2["effective_unit_price"]) == (f"ZZZZ{run}:0001:AAAAAAAAAAA3", Decimal("57.6"))
        # S3: the change into an offer with no price is dropped, and it renews as it was
        assert (s3["promotion_id"], s3["effective_unit_price"], s3["scheduled_change"]) == (
            f"ZZZZ{run}:0001:AAAAAAAAAAA2", Decimal("68.4"), None)
        events = [json.loads(r["payload"]) for r in await w.pool.fetch("SELECT payload FROM outbox ORDER BY id")]
        assert [(e["data"]["subscription_id"], e["data"]["reason"]) for e in events
                if e["type"] == "subscription.scheduled_change_cancelled"
                and e["data"]["customer_id"] == w.customer] == [(w.sub("S3"), "no_price")]
    finally:
        await w.pool.close()

def test_a_renewal_takes_the_promotion_its_next_term_qualifies_for_and_never_an_unpriced_plan(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§2.5: promotions apply to renewals in their window and to scheduled changes, auto-applied; §2.4: a next term
    is priced from its own plan's row, never from another plan's."""
    asyncio.run(renewal_promotions(base_infra.database_url))


async def renewal_past_the_maximum(database_url: str) -> None:
    w = await World().start(database_url)
    run = w.run_id.upper()
    low, high = f"LLLL{run}:0001:LLLL{run}", f"HHHH{run}:0001:HHHH{run}"
    capped = promotion(f"HHHH{run}:0001:AAAAAAAAAAA1", high, "P1Y", "annual", "0.20", max_quantity=12)
    try:
        await w.deliver("nce.pricing.events", "pricing.promotion_published", capped, capped["product_id"])
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(high, []), "p")
        await w.deliver("nce.catalog.events", "catalog.offer_published", offer(low, [f"HHHH{run}:0001"]), "p")
        for i in (low, high):
            await w.deliver("nce.pricing.events", "pricing.prices_published", prices(i, "100"), "US")
        for name, item in (("S1", high), ("S2", low)):
            bought = await command(w, "subscription.purchase", subscription_id=w.sub(name), catalog_item_id=item,
                                   term_duration="P1Y", billing_cycle="annual", quantity=10)
            assert bought["type"] == "subscription.created", bought["data"]
        await w.clock.set(datetime(2025, 1, 10, tzinfo=UTC))  # past the windows, inside the promotion's
        into = await command(w, "subscription.transition", subscription_id=w.sub("S2"), target_catalog_item_id=high,
                             quantity=4, target_subscription_id=w.sub("S1"))
        assert into["data"]["target"]["full_price_seats"] == 2, into["data"]  # 12 of 14 under its maximum
        await w.clock.set(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC))
        await terms_ended(w, "2026-01-01T00:00:00Z", "S1")
        renewed = await w.pool.fetchrow("SELECT term_start, promotion_id, quantity, full_price_seats FROM subscriptions"
                                        " WHERE subscription_id = $1", w.sub("S1"))
        assert (str(renewed[0]), *renewed[1:]) == ("2026-01-01", capped["promotion_id"], 14, 2)  # kept, up to 12
        batches = await w.pool.fetch("SELECT quantity, full_price FROM seat_batches WHERE subscription_id = $1"
                                     " ORDER BY seq", w.sub("S1"))
        assert [tuple(b) for b in batches] == [(12, False), (2, True)]
    finally:
        await w.pool.close()


def test_a_renewal_keeps_its_promotion_up_to_the_seat_maximum_for_seats_moved_in_past_it(base_infra) -> None:  # type: ignore[no-untyped-def]
    """§2.5: in the promotion's window the renewal keeps it; seats an upgrade moved in past its seat maximum go on
    paying the unit price, the others keep the discount (not all of them losing it)."""
    asyncio.run(renewal_past_the_maximum(base_infra.database_url))

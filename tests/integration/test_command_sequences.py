"""Random command sequences through the real kernel and PostgreSQL: the invariants a partner relies on.

Every command gets exactly one outcome; quantities are never negative and always equal the seat batches; a
subscription is in one known state. Commands, fields and the time between them are drawn at random, including
invalid ones.
"""
import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.subscription.app import SERVICE as SUBSCRIPTION
from shared.clock import SimulatedClock
from shared.contracts.envelope import OPERATOR, new_envelope
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
BASIC, STANDARD = "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL"
STATES = {"active", "suspended", "expired", "disabled", "deleted"}
PLANS = [("P1M", "monthly"), ("P1Y", "annual"), ("P1Y", "monthly"), ("P3Y", "triennial")]
SUBS = ["S0", "S1", "S2"]


def side_effect(event: dict) -> bool:  # type: ignore[type-arg]
    """A fact a command causes besides its one outcome: a scheduled change wiped by some other change."""
    return event["type"] == "subscription.scheduled_change_cancelled" and event["data"]["reason"] != "requested"


def offer(item: str, targets: list[str]) -> dict:  # type: ignore[type-arg]
    return {"catalog_item_id": item, "product_title": "X", "sku_title": "X", "markets": ["US"],
            "plans": [{"term_duration": t, "billing_cycle": c} for t, c in PLANS], "min_quantity": 1,
            "max_quantity": 300, "pooled_max_per_customer": 300, "upgrade_targets": targets}


def prices(item: str, price: str) -> dict:  # type: ignore[type-arg]
    product, sku, _ = item.split(":")
    return {"market": "US", "rows": [
        {"product_id": product, "sku_id": sku, "market": "US", "currency": "USD", "term_duration": t,
         "billing_cycle": c, "effective_start": "2020-01-01", "effective_end": "9999-12-31", "unit_price": price}
        for t, c in PLANS]}


quantity = st.integers(min_value=-2, max_value=320)
sub_id = st.sampled_from(SUBS + ["S-NONE"])
commands = st.one_of(
    st.builds(lambda s, q, p: ("subscription.purchase", {"subscription_id": s, "catalog_item_id": BASIC,
                                                          "term_duration": p[0], "billing_cycle": p[1], "quantity": q}),
              st.sampled_from(SUBS), quantity, st.sampled_from(PLANS)),
    st.builds(lambda s, q: ("subscription.change_quantity", {"subscription_id": s, "quantity": q}), sub_id, quantity),
    st.builds(lambda s, b: ("subscription.set_auto_renew", {"subscription_id": s, "enabled": b}), sub_id, st.booleans()),
    st.builds(lambda t, s: (f"subscription.{t}", {"subscription_id": s}),
              st.sampled_from(["cancel", "suspend", "reactivate", "cancel_scheduled_change"]), sub_id),
    st.builds(lambda s, q: ("subscription.schedule_change", {"subscription_id": s, "quantity": q}), sub_id, quantity),
    st.builds(lambda s, q, w: ("subscription.transition", {"subscription_id": s, "target_catalog_item_id": STANDARD,
                                                            "quantity": q, "when": w}),
              sub_id, quantity, st.sampled_from(["immediate", "at_renewal"])),
    st.builds(lambda s, p: ("subscription.change_term", {"subscription_id": s, "term_duration": p[0],
                                                          "billing_cycle": p[1]}), sub_id, st.sampled_from(PLANS)),
)
steps = st.lists(st.tuples(commands, st.integers(min_value=0, max_value=240)), min_size=1, max_size=14)


async def run(database_url: str, sequence: list) -> None:  # type: ignore[type-arg]
    run_id = uuid.uuid4().hex[:8]
    stack = type("S", (), {"database_url": database_url})()
    pool = await migrated_pool(stack, "subscription")  # type: ignore[arg-type]
    clock = SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC))
    consumer = Consumer(SUBSCRIPTION.handlers, pool, clock, max_bytes=1_000_000, max_backoff_s=0.01)
    offset = iter(range(10**9))

    async def deliver(topic: str, type_: str, data: dict, key: str) -> str:  # type: ignore[type-arg]
        env = new_envelope(id=uuid.uuid4(), type=type_, data=data, occurred_at=await clock.now(), source="test",
                           actor=OPERATOR)
        await consumer.handle(Record(topic, 0, next(offset), key.encode(), env.to_bytes()))
        return str(env.id)

    customer = f"C-{run_id}"
    await deliver("nce.catalog.events", "catalog.offer_published", offer(BASIC, ["CFQ7TTC0LDPB:0001"]), "p")
    await deliver("nce.catalog.events", "catalog.offer_published", offer(STANDARD, []), "p")
    await deliver("nce.pricing.events", "pricing.prices_published", prices(BASIC, "72"), "US")
    await deliver("nce.pricing.events", "pricing.prices_published", prices(STANDARD, "150"), "US")
    partner = f"P-{run_id}"
    sent = [await deliver("nce.subscription.commands", "partner.register", {
        "partner_id": partner, "name": "P", "billing_currency": "USD", "country": "US"}, partner)]
    sent.append(await deliver("nce.subscription.commands", "customer.register", {
        "partner_id": partner, "customer_id": customer, "name": "C", "country": "US"}, customer))
    for (type_, data), hours in sequence:
        await clock.set(await clock.now() + timedelta(hours=hours))
        if "subscription_id" in data:
            data = {**data, "subscription_id": f"{data['subscription_id']}-{run_id}"}
        if type_ == "subscription.purchase":
            data = {**data, "customer_id": customer}
        sent.append(await deliver("nce.subscription.commands", type_, data, customer))

    events = [json.loads(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox")]
    outcomes = Counter(e["causation_id"] for e in events if not side_effect(e))
    assert all(outcomes[c] == 1 for c in sent), "every command has exactly one outcome"
    subs = await pool.fetch(
        """SELECT s.subscription_id, s.quantity, s.status, s.catalog_item_id AS item,
                  coalesce(sum(b.quantity), 0) AS seats
           FROM subscriptions s LEFT JOIN seat_batches b USING (subscription_id)
           WHERE s.customer_id = $1 GROUP BY 1, 2, 3, 4""", customer)
    for s in subs:
        assert s["quantity"] >= 0 and s["status"] in STATES
        assert s["quantity"] == s["seats"], f"{s['subscription_id']}: quantity {s['quantity']} != seats {s['seats']}"
    held = sum(s["quantity"] for s in subs if s["status"] in ("active", "suspended") and s["item"] == BASIC)
    assert held <= 300, "the pooled per-customer maximum holds"
    await pool.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_random_command_sequences_keep_the_invariants(base_infra, sequence) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(run(base_infra.database_url, sequence))


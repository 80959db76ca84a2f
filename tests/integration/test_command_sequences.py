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

from services.billing.app import SERVICE as BILLING
from services.subscription.app import SERVICE as SUBSCRIPTION
from shared.clock import SimulatedClock
from shared.contracts.envelope import OPERATOR, new_envelope
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
BASIC, STANDARD = "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL"
STATES = {"active", "suspended", "expired", "disabled", "deleted", "converted"}
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


class World:
    """A subscription service's kernel on a real database, one partner and customer, offers and prices loaded."""

    async def start(self, database_url: str) -> "World":
        self.run_id = uuid.uuid4().hex[:8]
        stack = type("S", (), {"database_url": database_url})()
        self.pool = await migrated_pool(stack, "subscription")  # type: ignore[arg-type]
        self.clock = SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC))
        self.consumer = Consumer(SUBSCRIPTION.handlers, self.pool, self.clock, max_bytes=1_000_000, max_backoff_s=0.01)
        self.offsets = iter(range(10**9))
        self.sent: list[str] = []  # every command's id, to check its one outcome
        self.customer, partner = f"C-{self.run_id}", f"P-{self.run_id}"
        await self.deliver("nce.catalog.events", "catalog.offer_published", offer(BASIC, ["CFQ7TTC0LDPB:0001"]), "p")
        await self.deliver("nce.catalog.events", "catalog.offer_published", offer(STANDARD, []), "p")
        await self.deliver("nce.pricing.events", "pricing.prices_published", prices(BASIC, "72"), "US")
        await self.deliver("nce.pricing.events", "pricing.prices_published", prices(STANDARD, "150"), "US")
        await self.deliver("nce.subscription.commands", "partner.register", {
            "partner_id": partner, "name": "P", "billing_currency": "USD", "country": "US"}, partner)
        await self.deliver("nce.subscription.commands", "customer.register", {
            "partner_id": partner, "customer_id": self.customer, "name": "C", "country": "US"}, self.customer)
        return self

    def record(self, topic: str, type_: str, data: dict, key: str, now: datetime, partition: int = 0) -> Record:  # type: ignore[type-arg]
        env = new_envelope(id=uuid.uuid4(), type=type_, data=data, occurred_at=now, source="test", actor=OPERATOR)
        if topic.endswith(".commands"):
            self.sent.append(str(env.id))
        return Record(topic, partition, next(self.offsets), key.encode(), env.to_bytes())

    async def deliver(self, topic: str, type_: str, data: dict, key: str) -> str:  # type: ignore[type-arg]
        record = self.record(topic, type_, data, key, await self.clock.now())
        await self.consumer.handle(record)
        return json.loads(record.value)["id"]

    def sub(self, name: str) -> str:
        return f"{name}-{self.run_id}"


async def end_terms(w: World) -> None:
    """What the scheduler fires as time passes: a `scheduler.terms_ended` for the terms that ended, earliest first,
    until none is left (a command meanwhile would be refused with 409)."""
    for _ in range(100):
        ended = await w.pool.fetch(
            """SELECT subscription_id, term_end FROM subscriptions WHERE customer_id = $1
               AND status IN ('active', 'suspended') AND term_end < $2 ORDER BY term_end""",
            w.customer, (await w.clock.now()).date())
        if not ended:
            return
        first = ended[0]["term_end"]
        await w.deliver("nce.scheduler.events", "scheduler.terms_ended", {
            "customer_id": w.customer, "instant": f"{first + timedelta(days=1)}T00:00:00Z",
            "terms": [{"subscription_id": r["subscription_id"], "term_end": str(first)}
                      for r in ended if r["term_end"] == first]}, w.customer)
    raise AssertionError("term ends keep coming")


async def run(database_url: str, sequence: list) -> None:  # type: ignore[type-arg]
    w = await World().start(database_url)
    pool, clock, customer, sent = w.pool, w.clock, w.customer, w.sent
    for (type_, data), hours in sequence:
        await clock.set(await clock.now() + timedelta(hours=hours))
        await end_terms(w)
        if "subscription_id" in data:
            data = {**data, "subscription_id": w.sub(data["subscription_id"])}
        if type_ == "subscription.purchase":
            data = {**data, "customer_id": customer}
        await w.deliver("nce.subscription.commands", type_, data, customer)

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
    for item in (BASIC, STANDARD):  # seats come to STANDARD by upgrades, now or at renewal
        held = sum(s["quantity"] for s in subs if s["status"] in ("active", "suspended") and s["item"] == item)
        assert held <= 300, f"the pooled per-customer maximum of {item} holds"
    await pool.close()
    await bill_twice(database_url, [e for e in events if BILLING.handlers.get(e["type"])
                                    and e["data"].get("customer_id") == customer], customer)


async def bill_twice(database_url: str, events: list[dict], customer: str) -> None:  # type: ignore[type-arg]
    """Billing fed the subscription events, then all of them again: the second pass adds no line."""
    stack = type("S", (), {"database_url": database_url})()
    pool = await migrated_pool(stack, "billing")  # type: ignore[arg-type]
    consumer = Consumer(BILLING.handlers, pool, SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC)), max_bytes=1_000_000,
                        max_backoff_s=0.01)
    records = [Record("nce.subscription.events", 0, i, customer.encode(), json.dumps(e).encode())
               for i, e in enumerate(events)]
    count = "SELECT count(*), coalesce(sum(amount), 0) FROM charge_lines WHERE customer_id = $1"
    for record in records:
        await consumer.handle(record)
    once = await pool.fetchrow(count, customer)
    for record in records:
        await consumer.handle(record)
    assert await pool.fetchrow(count, customer) == once, "a redelivered event adds no charge line"
    assert once[0] >= sum(e["type"] == "subscription.created" for e in events)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    await pool.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_random_command_sequences_keep_the_invariants(base_infra, sequence) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(run(base_infra.database_url, sequence))



async def race(database_url: str, rival: str, rival_first: bool = False) -> tuple[str, str]:
    """Buy S1 and S2, let S2's window pass, then race 'move S1 into S2' against `rival` on S2, on two partitions."""
    w = await World().start(database_url)
    for name in ("S1", "S2"):
        await w.deliver("nce.subscription.commands", "subscription.purchase", {
            "customer_id": w.customer, "subscription_id": w.sub(name), "catalog_item_id": STANDARD,
            "term_duration": "P1Y", "billing_cycle": "annual", "quantity": 5}, w.customer)
    await w.pool.execute("UPDATE subscriptions SET catalog_item_id = $1 WHERE subscription_id = $2", BASIC, w.sub("S1"))
    now = await w.clock.set(await w.clock.now() + timedelta(hours=168, seconds=1))
    move = w.record("nce.subscription.commands", "subscription.transition", {
        "subscription_id": w.sub("S1"), "target_catalog_item_id": STANDARD, "quantity": 5,
        "target_subscription_id": w.sub("S2")}, w.sub("S1"), now, partition=1)
    other = w.record("nce.subscription.commands", rival, {"subscription_id": w.sub("S2")}, w.sub("S2"), now,
                     partition=2)
    await w.consumer.handle_batch([other, move] if rival_first else [move, other])  # partitions run concurrently
    outcomes = {e["causation_id"]: e for e in
                (json.loads(r["payload"]) for r in await w.pool.fetch("SELECT payload FROM outbox"))}
    moved, rivalled = outcomes[json.loads(move.value)["id"]], outcomes[json.loads(other.value)["id"]]
    s1, s2 = [await w.pool.fetchrow("SELECT status, quantity FROM subscriptions WHERE subscription_id = $1", w.sub(n))
              for n in ("S1", "S2")]
    if moved["type"] == "subscription.transitioned":
        assert s2["status"] != "deleted" and s2["quantity"] == 10 and s1["quantity"] == 0
    else:
        assert moved["data"]["code"] == "900258" and s2["quantity"] == 5 and s1["quantity"] == 5
    await w.pool.close()
    return moved["type"].rsplit(".", 1)[1], rivalled["type"].rsplit(".", 1)[1]


def test_a_transition_into_a_subscription_racing_its_cancellation_never_breaks_a_rule(base_infra) -> None:  # type: ignore[no-untyped-def]
    results = {asyncio.run(race(base_infra.database_url, "subscription.cancel")) for _ in range(5)}
    assert results == {("transitioned", "command_rejected")}  # S2's window had passed: the cancel never wins


def test_a_transition_racing_a_suspension_of_its_target_ends_consistent_in_either_order(base_infra) -> None:  # type: ignore[no-untyped-def]
    results = {asyncio.run(race(base_infra.database_url, "subscription.suspend", rival_first=i % 2 == 1))
               for i in range(6)}
    assert results == {("transitioned", "suspended"), ("command_rejected", "suspended")}  # both orders happened

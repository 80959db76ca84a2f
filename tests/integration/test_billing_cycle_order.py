"""A change on the first day of a charge cycle can reach billing before that cycle's charge: the scheduler's
`charge_cycle_started` travels another topic than the subscription's events. Billing's real handlers on PostgreSQL,
fed both orders, and the cycle's event once more (the scheduler firing it again after a restart): the same lines,
each once. And a cycle that the scheduler does not charge (it began before a full upgrade) is never charged."""
import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.billing.app import SERVICE as BILLING
from shared.clock import SimulatedClock
from shared.contracts.envelope import OPERATOR, new_envelope
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
CYCLE_DAY = datetime(2026, 2, 1, tzinfo=UTC)  # the second monthly cycle of a P1Y term from 2026-01-01
AT = "2026-02-01T00:00:30Z"  # a change half a minute into it
Line = tuple[str, str, int, str | None, Decimal]  # subscription, charge type, quantity, promotion, amount


def terms(sub: str, customer: str, **changes: Any) -> dict[str, Any]:
    return {"subscription_id": sub, "partner_id": "P1", "customer_id": customer,
            "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "term_duration": "P1Y", "billing_cycle": "monthly",
            "term_start": "2026-01-01", "term_end": "2026-12-31", "unit_price": "120", "currency": "USD", **changes}


def created(sub: str, customer: str, quantity: int, **changes: Any) -> tuple[str, str, dict[str, Any]]:
    return ("nce.subscription.events", "subscription.created", {
        **terms(sub, customer, **changes), "quantity": quantity, "auto_renew": True, "status": "active",
        "cancellation_allowed_until": "2026-01-08T00:00:00Z", "market": "US"})


def cycle(sub: str, customer: str, start: str = "2026-02-01") -> tuple[str, str, dict[str, Any]]:
    return ("nce.scheduler.events", "scheduler.charge_cycle_started", {
        "subscription_id": sub, "customer_id": customer, "cycle_start": start, "term_end": "2026-12-31",
        "instant": f"{start}T00:00:00Z"})


async def feed(database_url: str, customer: str, steps: list[tuple[str, str, dict[str, Any]]]) -> list[Line]:
    """Billing's lines for the customer after handling the steps in order."""
    pool = await migrated_pool(type("S", (), {"database_url": database_url})(), "billing")  # type: ignore[arg-type]
    consumer = Consumer(BILLING.handlers, pool, SimulatedClock(CYCLE_DAY), max_bytes=1_000_000, max_backoff_s=0.01)
    try:
        for offset, (topic, type_, data) in enumerate(steps):
            envelope = new_envelope(id=uuid.uuid4(), type=type_, data=data, occurred_at=CYCLE_DAY, source="test",
                                    actor=OPERATOR)
            await consumer.handle(Record(topic, 0, offset, customer.encode(), envelope.to_bytes()))
        rows = await pool.fetch("SELECT subscription_id, charge_type, quantity, promotion_id, amount FROM charge_lines"
                                " WHERE customer_id = $1", customer)
        assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    finally:
        await pool.close()
    return sorted((r["subscription_id"][:2], r["charge_type"], r["quantity"], r["promotion_id"], r["amount"])
                  for r in rows)


def both_orders(database_url: str, before: list, change: tuple, cycle_event: tuple) -> tuple[list[Line], list[Line]]:  # type: ignore[type-arg]
    """The lines with the change handled after the cycle's event, and before it (each time for a customer of its
    own), each followed by the cycle's event again."""
    def run(steps: list) -> list[Line]:  # type: ignore[type-arg]
        c = f"C-{uuid.uuid4().hex[:8]}"
        return asyncio.run(feed(database_url, c, [rename(step, c) for step in steps]))

    return (run([*before, cycle_event, change, cycle_event]), run([*before, change, cycle_event, cycle_event]))


def rename(step: tuple[str, str, dict[str, Any]], customer: str) -> tuple[str, str, dict[str, Any]]:
    """The step for another customer and its own subscription ids (`S1` → `S1-<customer>`), in its terms and in
    those it carries of a trial or target."""
    def renamed(terms: dict[str, Any]) -> dict[str, Any]:
        return {**terms, "customer_id": customer, "subscription_id": f"{terms['subscription_id']}-{customer}"}

    topic, type_, data = step
    return topic, type_, {k: renamed(v) if isinstance(v, dict) else v for k, v in renamed(data).items()}


def test_seats_added_on_a_cycles_first_day_bill_alike_before_or_after_that_cycles_charge(base_infra) -> None:  # type: ignore[no-untyped-def]
    c = "C"  # each run gives the steps a customer of its own
    quantity = ("nce.subscription.events", "subscription.quantity_changed", {
        **terms("S1", c), "at": AT, "quantity_before": 5, "quantity_after": 8})
    in_order, raced = both_orders(base_infra.database_url, [created("S1", c, 5)], quantity, cycle("S1", c))
    feb = [("S1", "addQuantity", 5, None, Decimal("-50.00")), ("S1", "addQuantity", 8, None, Decimal("80.00")),
           ("S1", "cycleCharge", 5, None, Decimal("50.00"))]  # February charged for 5, then wiped and recreated for 8
    assert in_order == raced == sorted([("S1", "new", 5, None, Decimal("50.00")), *feb])


def test_a_cancellation_on_a_cycles_first_day_refunds_only_what_was_charged(base_infra) -> None:  # type: ignore[no-untyped-def]
    c = "C"  # each run gives the steps a customer of its own
    cancel = ("nce.subscription.events", "subscription.cancelled", {**terms("S1", c), "at": AT, "quantity": 5})
    in_order, raced = both_orders(base_infra.database_url, [created("S1", c, 5)], cancel, cycle("S1", c))
    assert in_order == raced == sorted([("S1", "new", 5, None, Decimal("50.00")),
                                        ("S1", "cycleCharge", 5, None, Decimal("50.00")),
                                        ("S1", "cancelImmediate", 5, None, Decimal("-50.00"))])


def test_full_price_seats_added_on_a_cycles_first_day_do_not_make_its_charge_twice(base_infra) -> None:  # type: ignore[no-untyped-def]
    """A cycle's charge is one line or two (promoted and full-price seats): a change that alters the split must not
    let the cycle's event charge it again."""
    c, promo = "C", {"promotion_id": "P:0001:X", "effective_unit_price": "108"}  # 9.00 a month instead of 10
    quantity = ("nce.subscription.events", "subscription.quantity_changed", {
        **terms("S1", c, **promo), "at": AT, "quantity_before": 10, "quantity_after": 12, "full_price_seats": 2})
    in_order, raced = both_orders(base_infra.database_url, [created("S1", c, 10, **promo)], quantity,
                                  cycle("S1", c))
    assert in_order == raced == sorted([
        ("S1", "new", 10, "P:0001:X", Decimal("90.00")), ("S1", "cycleCharge", 10, "P:0001:X", Decimal("90.00")),
        ("S1", "addQuantity", 10, "P:0001:X", Decimal("-90.00")), ("S1", "addQuantity", 10, "P:0001:X", Decimal("90.00")),
        ("S1", "addQuantity", 2, None, Decimal("20.00"))])


def test_a_trial_converted_into_a_subscription_on_its_cycles_first_day_bills_alike_in_either_order(base_infra) -> None:  # type: ignore[no-untyped-def]
    c = "C"  # each run gives the steps a customer of its own
    trial = {**created("T1", c, 25, term_duration="P1M", billing_cycle="none", term_start="2026-01-20",
                       term_end="2026-02-19", unit_price="0")[2]}
    converted = ("nce.subscription.events", "subscription.trial_converted", {
        **terms("S1", c), "at": AT, "quantity": 35, "trial": {k: trial[k] for k in terms("T1", c)}})
    in_order, raced = both_orders(base_infra.database_url, [created("S1", c, 10), ("nce.subscription.events",
                                  "subscription.created", trial)], converted, cycle("S1", c))
    assert in_order == raced == sorted([
        ("S1", "new", 10, None, Decimal("100.00")), ("S1", "cycleCharge", 10, None, Decimal("100.00")),
        ("S1", "convert", 25, None, Decimal("250.00")),
        ("T1", "new", 25, None, Decimal("0.00")), ("T1", "convert", 25, None, Decimal("0.00"))])


def test_a_cycle_begun_before_a_full_upgrade_is_never_charged_after_it(base_infra) -> None:  # type: ignore[no-untyped-def]
    """Annual from Jan 10, upgraded in full on Mar 20 to a monthly plan (cycles from the 10th): the Mar 10 – Apr 9
    cycle was paid by the annual charge up to Mar 19 and by the upgrade's `convert` from Mar 20; a seat change on
    Mar 25 charges only its own days."""
    annual = {"billing_cycle": "annual", "term_start": "2026-01-10", "term_end": "2027-01-09"}
    monthly = {**annual, "billing_cycle": "monthly", "catalog_item_id": "CFQ7TTC0LDPB:0001:CFQ7TTC0K972",
               "unit_price": "150"}
    upgraded = ("nce.subscription.events", "subscription.transitioned", {
        **terms("S1", "C", **monthly), "at": "2026-03-20T09:00:00Z", "kind": "full", "quantity_before": 10,
        "quantity_after": 10, "moved": 10, "target": terms("S1", "C", **monthly), "target_quantity_after": 10})
    more = ("nce.subscription.events", "subscription.quantity_changed", {
        **terms("S1", "C", **monthly), "at": "2026-03-25T09:00:00Z", "quantity_before": 10, "quantity_after": 12})
    c = f"C-{uuid.uuid4().hex[:8]}"
    lines = asyncio.run(feed(base_infra.database_url, c, [rename(step, c) for step in (
        created("S1", "C", 10, **annual), upgraded, more)]))
    assert [line for line in lines if line[1] == "cycleCharge"] == []
    assert ("S1", "addQuantity", 12, None, Decimal("77.40")) in lines  # 16 of 31 days of 12.50 a month: 6.45 a seat


def test_a_renewals_seats_past_its_promotions_maximum_are_charged_the_unit_price(base_infra) -> None:  # type: ignore[no-untyped-def]
    """A renewal keeping its promotion for 12 of its 14 seats (the seat maximum): a `renew` line for the 12 at the
    discounted price with the promotion, one for the other 2 at the unit price without it."""
    c = f"C-{uuid.uuid4().hex[:8]}"
    renewal = {**terms(f"S1-{c}", c, billing_cycle="annual", term_start="2027-01-01", term_end="2027-12-31"),
               "quantity": 14, "auto_renew": True, "status": "active", "market": "US",
               "cancellation_allowed_until": "2027-01-08T00:00:00Z", "promotion_id": "39NFJQT1PJQB:0001:39NFJQT1Q5KN",
               "effective_unit_price": "96", "full_price_seats": 2, "previous_term_end": "2026-12-31"}
    renewed = ("nce.subscription.events", "subscription.terms_renewed", {
        "customer_id": c, "instant": "2027-01-01T00:00:00Z", "renewals": [renewal]})
    lines = asyncio.run(feed(base_infra.database_url, c, [renewed]))
    assert lines == [("S1", "renew", 2, None, Decimal("240.00")),
                     ("S1", "renew", 12, "39NFJQT1PJQB:0001:39NFJQT1Q5KN", Decimal("1152.00"))]

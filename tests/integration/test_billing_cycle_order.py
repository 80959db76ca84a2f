"""A change on the first day of a charge cycle can reach billing before that cycle's charge: the scheduler's
`charge_cycle_started` travels another topic than the subscription's events. Billing's real handlers on PostgreSQL,
fed both orders: the same lines, each once, and what the partner owes is the same."""
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


def terms(sub: str, customer: str) -> dict[str, Any]:
    return {"subscription_id": sub, "partner_id": "P1", "customer_id": customer,
            "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "term_duration": "P1Y", "billing_cycle": "monthly",
            "term_start": "2026-01-01", "term_end": "2026-12-31", "unit_price": "120", "currency": "USD"}


async def bill(database_url: str, change: str, change_first: bool) -> list[tuple[str, int, Decimal]]:
    """Billing's lines for one subscription: bought, then its February cycle and `change` on the cycle's first day,
    in the order given; then the cycle's event once more (the scheduler firing again after a restart)."""
    pool = await migrated_pool(type("S", (), {"database_url": database_url})(), "billing")  # type: ignore[arg-type]
    consumer = Consumer(BILLING.handlers, pool, SimulatedClock(CYCLE_DAY), max_bytes=1_000_000, max_backoff_s=0.01)
    sub, customer = f"S-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    offsets = iter(range(10**6))

    async def deliver(topic: str, type_: str, data: dict[str, Any]) -> None:
        envelope = new_envelope(id=uuid.uuid4(), type=type_, data=data, occurred_at=CYCLE_DAY, source="test",
                                actor=OPERATOR)
        await consumer.handle(Record(topic, 0, next(offsets), customer.encode(), envelope.to_bytes()))

    at = "2026-02-01T00:00:30Z"
    changed = {"subscription.quantity_changed": {"at": at, "quantity_before": 5, "quantity_after": 8},
               "subscription.cancelled": {"at": at, "quantity": 5}}[change]
    cycle = {"subscription_id": sub, "customer_id": customer, "cycle_start": "2026-02-01", "term_end": "2026-12-31",
             "instant": "2026-02-01T00:00:00Z"}
    try:
        await deliver("nce.subscription.events", "subscription.created", {
            **terms(sub, customer), "quantity": 5, "auto_renew": True, "status": "active",
            "cancellation_allowed_until": "2026-01-08T00:00:00Z", "market": "US"})
        steps = [("nce.scheduler.events", "scheduler.charge_cycle_started", cycle),
                 ("nce.subscription.events", change, {**terms(sub, customer), **changed})]
        for step in (steps[::-1] if change_first else steps) + [steps[0]]:
            await deliver(*step)
        rows = await pool.fetch("SELECT charge_type, quantity, amount FROM charge_lines WHERE subscription_id = $1"
                                " AND order_date = '2026-02-01'", sub)
        assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    finally:
        await pool.close()
    return sorted((r["charge_type"], r["quantity"], r["amount"]) for r in rows)


@pytest.mark.parametrize("change, expected", [
    ("subscription.quantity_changed",  # February charged for 5 seats, then wiped and recreated for 8
     [("addQuantity", 5, Decimal("-50.00")), ("addQuantity", 8, Decimal("80.00")), ("cycleCharge", 5, Decimal("50.00"))]),
    ("subscription.cancelled",  # cancelled on the cycle's first day: charged, then refunded whole
     [("cancelImmediate", 5, Decimal("-50.00")), ("cycleCharge", 5, Decimal("50.00"))]),
])
def test_a_change_on_a_cycles_first_day_bills_alike_before_or_after_that_cycles_charge(
        base_infra, change: str, expected: list[tuple[str, int, Decimal]]) -> None:  # type: ignore[no-untyped-def]
    in_order = asyncio.run(bill(base_infra.database_url, change, change_first=False))
    raced = asyncio.run(bill(base_infra.database_url, change, change_first=True))
    assert in_order == expected
    assert raced == expected

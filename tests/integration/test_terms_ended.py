"""A customer's terms ending at one instant, through the real kernel and PostgreSQL: read in one statement, each
renewed, expired or left alone as if alone, the renewals announced in one event, and a redelivery changes nothing."""
import asyncio
import json
from datetime import timedelta

import pytest

from tests.integration.test_command_sequences import BASIC, World

pytestmark = pytest.mark.integration


async def scenario(database_url: str) -> None:
    w = await World().start(database_url)
    for name, auto_renew in (("S1", True), ("S2", False), ("S3", True), ("S4", True)):
        await w.deliver("nce.subscription.commands", "subscription.purchase", {
            "customer_id": w.customer, "subscription_id": w.sub(name), "catalog_item_id": BASIC,
            "term_duration": "P1M", "billing_cycle": "monthly", "quantity": 3, "auto_renew": auto_renew}, w.customer)
    term_end = await w.pool.fetchval("SELECT term_end FROM subscriptions WHERE subscription_id = $1", w.sub("S1"))
    instant = await w.clock.set(await w.clock.now() + timedelta(days=31))
    assert instant.date() == term_end + timedelta(days=1)
    terms = [{"subscription_id": w.sub(n), "term_end": f"{term_end}"} for n in ("S1", "S2", "S3")]
    terms.append({"subscription_id": w.sub("S4"), "term_end": f"{term_end - timedelta(days=1)}"})  # a stale timer
    ended = w.record("nce.scheduler.events", "scheduler.terms_ended",
                     {"customer_id": w.customer, "instant": instant.isoformat(), "terms": terms}, w.customer, instant)
    await w.consumer.handle(ended)
    await w.consumer.handle(ended)  # delivered twice: applied once

    cause = json.loads(ended.value)["id"]
    rows = await w.pool.fetch("SELECT payload FROM outbox ORDER BY id")
    events = [e for e in (json.loads(r["payload"]) for r in rows) if e["causation_id"] == cause]
    subs = {r["subscription_id"]: r for r in await w.pool.fetch(
        "SELECT subscription_id, status, term_start, term_end, quantity FROM subscriptions WHERE customer_id = $1",
        w.customer)}
    batches = await w.pool.fetchval("SELECT count(*) FROM seat_batches WHERE subscription_id = $1", w.sub("S1"))
    await w.pool.close()

    assert [e["type"] for e in events] == ["subscription.expired", "subscription.terms_renewed"]
    [expired, renewed] = events
    assert expired["data"]["subscription_id"] == w.sub("S2")
    assert [(r["subscription_id"], r["term_start"], r["previous_term_end"]) for r in renewed["data"]["renewals"]] == \
        [(w.sub(n), f"{instant.date()}", f"{term_end}") for n in ("S1", "S3")]
    for name in ("S1", "S3"):
        assert (subs[w.sub(name)]["status"], subs[w.sub(name)]["term_start"]) == ("active", instant.date())
        assert subs[w.sub(name)]["term_end"] > instant.date() and subs[w.sub(name)]["quantity"] == 3
    assert subs[w.sub("S2")]["status"] == "expired"
    assert (subs[w.sub("S4")]["status"], subs[w.sub("S4")]["term_end"]) == ("active", term_end)  # left alone
    assert batches == 1  # the renewed seats, one batch with the new term's window


def test_a_customers_terms_ending_together_are_each_decided_as_alone_and_announced_once(base_infra) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(scenario(base_infra.database_url))

"""The subscription reads over the real kernel and PostgreSQL: a customer's list shows each subscription in the
shape of its single read."""
import httpx
import pytest

from services.subscription.app import SERVICE as SUBSCRIPTION
from shared.runtime import Runtime, build_app
from tests.conftest import OPERATOR
from tests.integration.test_command_sequences import BASIC, World

pytestmark = pytest.mark.integration


async def test_a_customers_list_shows_a_scheduled_change_as_the_single_read_does(stack) -> None:  # type: ignore[no-untyped-def]
    w = await World().start(stack.database_url)
    rt = Runtime(settings=stack.service_settings("subscription"), clock=w.clock, pool=w.pool)
    try:
        for name in ("S1", "S2"):
            await w.deliver("nce.subscription.commands", "subscription.purchase", {
                "customer_id": w.customer, "subscription_id": w.sub(name), "catalog_item_id": BASIC,
                "term_duration": "P1Y", "billing_cycle": "monthly", "quantity": 3}, w.customer)
        await w.deliver("nce.subscription.commands", "subscription.schedule_change",
                        {"subscription_id": w.sub("S1"), "quantity": 5}, w.customer)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app(SUBSCRIPTION, rt)),
                                     base_url="http://nce", headers=OPERATOR) as client:
            listed = (await client.get("/subscriptions", params={"customer_id": w.customer})).json()["subscriptions"]
            one = {n: (await client.get(f"/subscriptions/{w.sub(n)}")).json() for n in ("S1", "S2")}
    finally:
        await w.pool.close()
    [s1, s2] = listed
    assert isinstance(s1["scheduled_change"], dict) and s1["scheduled_change"]["quantity"] == 5
    assert s1["scheduled_change"] == one["S1"]["scheduled_change"] and s2["scheduled_change"] is None
    for listed_one, single in ((s1, one["S1"]), (s2, one["S2"])):
        assert listed_one == {k: v for k, v in single.items() if k != "refundable_quantity"}

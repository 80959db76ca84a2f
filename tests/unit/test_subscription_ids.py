"""A client-chosen subscription id may not be one of the fixed reads under /subscriptions/ (the subscription
would be unreadable: GET /subscriptions/summary is the summary)."""
import pytest

from services.subscription.api import routes
from shared.contracts.subscription import RESERVED_SUBSCRIPTION_IDS, Purchase
from shared.messaging.decode import PoisonError, Record, decode
from tests.kafka import command

PURCHASE = {"customer_id": "C1", "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "term_duration": "P1Y",
            "billing_cycle": "monthly", "quantity": 5}
FIXED_READS = sorted(r.path.removeprefix("/subscriptions/") for r in routes(None)  # type: ignore[arg-type, attr-defined]
                     if r.path.startswith("/subscriptions/") and "{" not in r.path)  # type: ignore[attr-defined]


def purchase(subscription_id: str) -> Record:
    return Record("nce.subscription.commands", 0, 0, None,
                  command("subscription.purchase", {**PURCHASE, "subscription_id": subscription_id}))


def test_the_ids_refused_are_the_fixed_reads() -> None:
    assert FIXED_READS == ["due", "eos-impact", "summary"] == sorted(RESERVED_SUBSCRIPTION_IDS)


@pytest.mark.parametrize("subscription_id", FIXED_READS)
def test_a_purchase_naming_its_subscription_after_a_fixed_read_is_an_invalid_command(subscription_id: str) -> None:
    with pytest.raises(PoisonError) as caught:
        decode(purchase(subscription_id), 100_000)
    assert caught.value.code == "INVALID_COMMAND"
    assert "subscription_id" in caught.value.reason and f"{subscription_id!r} is reserved" in caught.value.reason


@pytest.mark.parametrize("subscription_id", ["S1", "Summary", "summary2", "due.1", "eos-impact-2", "a:b@c_d"])
def test_any_other_id_the_pattern_accepts_is_still_accepted(subscription_id: str) -> None:
    decoded = decode(purchase(subscription_id), 100_000)
    assert isinstance(decoded.data, Purchase) and decoded.data.subscription_id == subscription_id

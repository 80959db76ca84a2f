"""Upgrades now (domain.md §3.9, §5.2 row 8): full, partial and into an existing subscription."""
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.subscription.domain.purchase import Subscription
from services.subscription.domain.transition import transition
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
SRC, TGT = "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL"
SUB = Subscription("S1", "P1", "C1", SRC, "P1Y", "annual", 10, True, date(2026, 1, 1), date(2026, 12, 31),
                   NOW + timedelta(days=2), Decimal("72"), "USD", "US")
EXISTING = Subscription("S2", "P1", "C1", TGT, "P1Y", "annual", 5, True, date(2026, 1, 1), date(2026, 12, 31),
                        NOW - timedelta(days=1), Decimal("150"), "USD", "US")


def move(quantity: int, **kw: object):  # type: ignore[no-untyped-def]
    args = dict(sub=SUB, status="active", upgrade_targets=["CFQ7TTC0LDPB:0001"], target_item=TGT, term="P1Y",
                cycle="annual", quantity=quantity, now=NOW, eos=None, unit_price=Decimal("150"), child_id="S9")
    return transition(**{**args, **kw})  # type: ignore[arg-type]


def code(quantity: int, **kw: object) -> str:
    with pytest.raises(CommandRejectedError) as e:
        move(quantity, **kw)
    return e.value.code


def test_a_full_upgrade_keeps_the_subscription_and_its_term() -> None:
    t = move(10)
    assert (t.kind, t.target.subscription_id, t.target.catalog_item_id, t.target.unit_price) == (
        "full", "S1", TGT, Decimal("150"))
    assert (t.target.term_start, t.target.term_end) == (SUB.term_start, SUB.term_end)


def test_an_upgrade_leaves_the_source_offers_promotion_behind() -> None:
    promoted = replace(SUB, promotion_id="P" * 12 + ":0001:" + "X" * 12, effective_unit_price=Decimal("61.2"))
    for seats in (10, 4):
        t = move(seats, sub=promoted)
        assert (t.target.unit_price, t.target.effective_unit_price, t.target.promotion_id) == (
            Decimal("150"), Decimal("150"), None)
    assert move(4, sub=promoted).source.effective_unit_price == Decimal("61.2")


def test_a_partial_upgrade_creates_a_coterminous_child_with_the_parents_window() -> None:
    t = move(4)
    assert (t.kind, t.source.quantity, t.target.subscription_id, t.target.quantity) == ("partial", 6, "S9", 4)
    assert t.target.term_end == SUB.term_end and t.target.term_start == NOW.date()
    assert t.target.cancellation_allowed_until == SUB.cancellation_allowed_until


@pytest.mark.parametrize("existing, expected", [
    (replace(EXISTING, subscription_id="S1"), "900259"),
    (replace(EXISTING, cancellation_allowed_until=NOW), "TARGET_IN_CANCELLATION_WINDOW"),
    (replace(EXISTING, term_duration="P1M"), "900267"),
    (replace(EXISTING, term_end=date(2026, 12, 30)), "900236"),
    (replace(EXISTING, catalog_item_id="CFQ7TTC0LCHC:0001:CFQ7TTC0K8TS"), "900260"),
])
def test_an_existing_target_must_qualify(existing: Subscription, expected: str) -> None:
    assert code(3, existing=(existing, "active")) == expected


def test_an_existing_target_must_be_active_and_then_receives_the_seats() -> None:
    assert code(3, existing=(EXISTING, "suspended")) == "900258"
    t = move(3, existing=(EXISTING, "active"))
    assert (t.kind, t.source.quantity, t.target.quantity, t.target.unit_price) == ("existing", 7, 8, Decimal("150"))


def test_no_downgrade_no_eos_target_but_eoswc_is_fine_and_a_suspended_source_is_refused() -> None:
    assert code(3, upgrade_targets=[]) == "900260"
    rule = lambda state: EosRule("CFQ7TTC0LDPB", None, None, None, None, state, date(2026, 1, 1))  # noqa: E731
    assert code(3, eos=rule("EndOfSale")) == "10001"
    assert code(3, eos=rule("EndOfLife")) == "10001"
    assert move(3, eos=rule("EndOfSaleWithConversions")).kind == "partial"
    assert code(3, status="suspended") == "800091"
    assert code(11) == "900275"

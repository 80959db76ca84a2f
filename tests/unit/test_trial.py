"""Trial conversion rules (domain.md §3.8, §5.2 row 9)."""
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.subscription.domain import trial
from services.subscription.domain.purchase import Subscription
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule

NOW = datetime(2026, 3, 10, tzinfo=UTC)
TRIAL = Subscription("T1", "P1", "C1", "CFQ7TTC0LCHC:0002:CFQ7TTC0K9NR", "P1M", "none", 25, True, date(2026, 3, 1),
                     date(2026, 3, 31), NOW, Decimal("0"), "USD", "US")
PAID = "CFQ7TTC0LCHC:0001:CFQ7TTC0K8TS"


def code(fn, *args, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandRejectedError) as e:
        fn(*args, **kw)
    return e.value.code


def test_only_an_active_trial_converts_and_immediately_with_25_seats_or_more() -> None:
    trial.check_conversion(is_trial=True, status="active", quantity=25, immediate=True)
    trial.check_conversion(is_trial=True, status="active", quantity=3, immediate=False)  # scheduled: any count
    assert code(trial.check_conversion, is_trial=True, status="active", quantity=24, immediate=True) == "900275"
    assert code(trial.check_conversion, is_trial=False, status="active", quantity=25, immediate=True) == "NOT_A_TRIAL"


def test_an_existing_target_must_not_end_before_the_trial() -> None:
    target = replace(TRIAL, subscription_id="S2", catalog_item_id=PAID, term_end=date(2026, 3, 30))
    assert code(trial.check_existing_target, TRIAL, target, "active") == "900236"
    assert code(trial.check_existing_target, TRIAL, replace(target, term_end=date(2027, 1, 1)), "suspended") == "900258"
    trial.check_existing_target(TRIAL, replace(target, term_end=date(2026, 3, 31)), "active")


def test_the_paid_term_has_no_promotion_and_eos_or_eol_blocks_conversion() -> None:
    paid = trial.convert(TRIAL, paid_item=PAID, term="P1Y", cycle="monthly", quantity=30, start=date(2026, 3, 10),
                         eos=None, unit_price=Decimal("277.20"), instant=NOW)
    assert paid is not None and (paid.term_start, paid.term_end, paid.quantity, paid.promotion_id) == (
        date(2026, 3, 10), date(2027, 3, 9), 30, None)
    for state, converts in (("EndOfSale", False), ("EndOfLife", False), ("EndOfSaleWithConversions", True)):
        rule = EosRule("CFQ7TTC0LCHC", None, None, None, None, state, date(2026, 1, 1))
        result = trial.convert(TRIAL, paid_item=PAID, term="P1Y", cycle="monthly", quantity=25,
                               start=date(2026, 4, 1), eos=rule, unit_price=Decimal("277.20"), instant=NOW)
        assert (result is not None) == converts

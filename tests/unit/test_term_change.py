"""Mid-term term changes (domain.md §3.10, §9.6, §9.11, §9.4)."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.subscription.domain.purchase import Subscription
from services.subscription.domain.term_change import change_term
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule

NOW = datetime(2025, 6, 10, 8, tzinfo=UTC)
PLANS = frozenset({("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual"), ("P3Y", "triennial")})
SUB = Subscription("S1", "P1", "C1", "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "P1M", "monthly", 5, True,
                   date(2025, 6, 1), date(2025, 6, 30), NOW, Decimal("7.20"), "USD", "US")


def change(term: str, cycle: str, **kw: object) -> Subscription:
    args = dict(sub=SUB, status="active", trial=False, term=term, cycle=cycle, plans=PLANS, eos=None,
                unit_price=Decimal("72"), now=NOW)
    return change_term(**{**args, **kw})  # type: ignore[arg-type]


def test_a_longer_term_starts_today_at_the_price_now_with_a_new_window() -> None:
    s = change("P1Y", "annual")
    assert (s.term_start, s.term_end, s.unit_price) == (date(2025, 6, 10), date(2026, 6, 9), Decimal("72"))
    assert s.cancellation_allowed_until == NOW + timedelta(hours=168)


@pytest.mark.parametrize("term, cycle, kw, expected", [
    ("P1M", "monthly", {"sub": SUB.__class__(**{**SUB.__dict__, "term_duration": "P1Y"})}, "TERM_NOT_LONGER"),
    ("P1M", "annual", {}, "BILLING_CYCLE_CHANGE_MID_TERM"),
    ("P1Y", "annual", {"trial": True}, "800107"),
    ("P1Y", "annual", {"status": "suspended"}, "800091"),
    ("P3Y", "monthly", {}, "900270"),
    ("P1Y", "annual", {"eos": EosRule("CFQ7TTC0LH18", None, None, "P1Y", None, "EndOfSaleWithConversions",
                                      date(2025, 1, 1))}, "10001"),
])
def test_what_a_term_change_may_not_do(term: str, cycle: str, kw: dict[str, object], expected: str) -> None:
    with pytest.raises(CommandRejectedError) as e:
        change(term, cycle, **kw)
    assert e.value.code == expected

"""After the term (domain.md §3.2): what a term end leads to, and the day counts that follow."""
from datetime import UTC, datetime, timedelta

import pytest

from services.subscription.domain.lifecycle import at_term_end, next_step

END = datetime(2026, 1, 15, tzinfo=UTC)


@pytest.mark.parametrize("status, auto_renew, eol, expected", [
    ("active", True, False, None),  # renews
    ("active", False, False, "expired"),
    ("active", True, True, "expired"),  # §9.10
    ("suspended", True, False, "disabled"),
    ("suspended", False, False, "disabled"),
    ("expired", False, False, "expired"),
])
def test_what_a_term_end_leads_to(status: str, auto_renew: bool, eol: bool, expected: str | None) -> None:
    assert at_term_end(status, auto_renew, eol) == expected


def test_expired_thirty_days_then_disabled_ninety_then_deleted() -> None:
    assert next_step("expired", END) == ("disabled", END + timedelta(days=30))
    assert next_step("disabled", END + timedelta(days=30)) == ("deleted", END + timedelta(days=120))
    assert next_step("disabled", END, suspended_at_term_end=True) == ("deleted", END + timedelta(days=120))
    assert next_step("deleted", END) is None

"""After the term (domain.md §3.2): what a term end leads to, and the day counts that follow."""
from datetime import UTC, date, datetime, timedelta

import pytest

from services.subscription.domain.lifecycle import at_term_end, check_term_not_ending, next_step
from shared.rejection import CommandRejectedError

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


def refusal(now: datetime) -> str:
    try:
        check_term_not_ending("active", "license", date(2027, 1, 1), date(2027, 12, 31), now)
        return "OK"
    except CommandRejectedError as e:
        return e.code


def test_a_command_acts_only_on_the_term_it_was_stamped_in() -> None:
    """§3.5, §9.13: a command stamped at 23:59:59 that finds the term renewed (another instance renewed it
    meanwhile) is refused with 409, not applied to the new term; a command stamped after the term's last day waits
    for its renewal (409); in between it applies."""
    assert refusal(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "409"
    assert refusal(datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)) == "OK"
    assert refusal(datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)) == "OK"
    assert refusal(datetime(2028, 1, 1, 0, 0, 0, tzinfo=UTC)) == "409"

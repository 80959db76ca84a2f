"""Custom term end dates at purchase (domain.md §3.7)."""
from datetime import date

import pytest

from services.subscription.domain.coterm import check_custom_term_end
from shared.rejection import CommandRejectedError

START = date(2025, 3, 10)


def check(wanted: date, term: str = "P1Y", others: list[tuple[date, str]] | None = None, trial: bool = False) -> str:
    standard = {"P1M": date(2025, 4, 9), "P1Y": date(2026, 3, 9), "P3Y": date(2028, 3, 9)}[term]
    try:
        return str(check_custom_term_end(wanted=wanted, start=START, standard_end=standard, term=term, trial=trial,
                                         others=others or []))
    except CommandRejectedError as e:
        return e.code


def test_a_calendar_month_end_inside_the_first_term_is_valid() -> None:
    assert check(date(2026, 2, 28)) == "2026-02-28"  # P1Y: the last day of the 11th month after the purchase month
    assert check(date(2025, 3, 31), "P1M") == "2025-03-31"


def test_coterming_with_another_active_subscription() -> None:
    assert check(date(2025, 11, 14), others=[(date(2025, 11, 14), "P1Y")]) == "2025-11-14"
    assert check(date(2025, 4, 3), "P1M", others=[(date(2025, 4, 3), "P1Y")]) == "2025-04-03"  # P1M with anything
    assert check(date(2025, 11, 14), others=[(date(2025, 11, 14), "P1M")]) == "900242"  # P1Y never to a P1M end


@pytest.mark.parametrize("wanted, term, expected", [
    (date(2026, 3, 31), "P1Y", "900245"),  # past the first term
    (date(2025, 3, 9), "P1Y", "900245"),  # before it starts
    (date(2025, 3, 28), "P1M", "900246"),  # a monthly term on the 28th that is not a month end
    (date(2025, 11, 14), "P1Y", "900242"),  # neither a month end nor another subscription's end
])
def test_invalid_dates_say_why(wanted: date, term: str, expected: str) -> None:
    assert check(wanted, term) == expected


def test_a_trial_has_no_custom_term_end() -> None:
    assert check(date(2025, 3, 31), "P1M", trial=True) == "900244"

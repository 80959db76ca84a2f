"""Rules on price rows (domain.md §2.3)."""
from datetime import date

from shared.rejection import CommandRejectedError


class EffectiveRangeError(CommandRejectedError):
    code = "INVALID_COMMAND"


def check_row(effective_start: date, effective_end: date) -> None:
    if effective_start > effective_end:
        raise EffectiveRangeError(f"EffectiveStartDate {effective_start} is after EffectiveEndDate {effective_end}")

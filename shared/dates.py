"""Calendar arithmetic shared by the domains (pure, stdlib only)."""
import calendar
from datetime import UTC, date, datetime, time, timedelta

TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}
CYCLE_MONTHS = {"monthly": 1, "annual": 12, "triennial": 36}


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of a shorter month (Jan 31 + 1 month = Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_end(start: date, months: int) -> date:
    """The inclusive last day of a period of `months` starting on `start`."""
    return add_months(start, months) - timedelta(days=1)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)

"""Calendar arithmetic shared by the domains (pure, stdlib only)."""
import calendar
import re
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


_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}


def after(instant: datetime, duration: str) -> datetime:
    """`instant` moved by a duration such as 30d, 12h, 2w, 13mo (calendar months) or 1y."""
    match = re.fullmatch(r"(\d+)(mo|y|[smhdw])", duration.strip())
    if not match:
        raise ValueError(f"{duration!r} is not a duration such as 30d, 12h, 2w, 13mo or 1y")
    count, unit = int(match[1]), match[2]
    if unit in ("mo", "y"):
        months = count * (12 if unit == "y" else 1)
        return datetime.combine(add_months(instant.date(), months), instant.timetz())
    return instant + count * _UNITS[unit]


def cycle_months(term_duration: str, billing_cycle: str) -> int:
    """A charge cycle's length in months; a plan without one (a trial's `none`) bills the term as one cycle."""
    return CYCLE_MONTHS.get(billing_cycle) or TERM_MONTHS[term_duration]


def cycle_starts(anchor: date, term_end: date, months: int) -> list[date]:
    """The starts of every charge cycle after the first in a term (cycles anchored to `anchor`, §4.2)."""
    starts, k = [], 1
    while (start := add_months(anchor, k * months)) <= term_end:
        starts.append(start)
        k += 1
    return starts


def month_after(day: date) -> date:
    """The first day of the month after `day`'s."""
    return add_months(day.replace(day=1), 1)


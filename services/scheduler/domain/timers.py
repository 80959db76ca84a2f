"""What instant a timer stands for (the scheduler holds no business rules, only time)."""
from datetime import date, datetime, timedelta

from shared.dates import start_of_day


def term_end_instant(term_end: date) -> datetime:
    """A term ending (inclusive) on `term_end` ends at 00:00:00Z the day after."""
    return start_of_day(term_end + timedelta(days=1))

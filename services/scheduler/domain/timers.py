"""What instant a timer stands for (the scheduler holds no business rules, only time)."""
from datetime import date, datetime, timedelta

from shared.dates import start_of_day


def term_end_instant(term_end: date) -> datetime:
    """A term ending (inclusive) on `term_end` ends at 00:00:00Z the day after."""
    return start_of_day(term_end + timedelta(days=1))


def eos_key(product_id: str, sku_id: str | None, market: str | None, term: str | None, cycle: str | None) -> str:
    """One timer per EOS scope: a later rule for the same scope replaces it."""
    return ":".join(part or "*" for part in (product_id, sku_id, market, term, cycle))

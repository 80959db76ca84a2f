"""What instant a timer stands for (the scheduler holds no business rules, only time)."""
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from shared.dates import start_of_day


def term_end_instant(term_end: date) -> datetime:
    """A term ending (inclusive) on `term_end` ends at 00:00:00Z the day after."""
    return start_of_day(term_end + timedelta(days=1))


def eos_key(product_id: str, sku_id: str | None, market: str | None, term: str | None, cycle: str | None,
            state: str) -> str:
    """One timer per EOS scope and phase (its End of Sale, its End of Life): a later rule for the same scope and
    phase replaces it."""
    scope = ":".join(part or "*" for part in (product_id, sku_id, market, term, cycle))
    return f"{scope}:EndOfLife" if state == "EndOfLife" else scope


_EVENTS = UUID("0c5b6f5e-2f4e-4f43-9d3a-5b8f1f0d7a21")


def event_id(kind: str, key: str, due_at: datetime) -> UUID:
    """The id of the event a timer emits, derived from (kind, subject, due instant): a timer fired twice, by a
    restart or a second instance, is one event to every consumer."""
    return uuid5(_EVENTS, f"{kind}:{key}:{int(due_at.timestamp())}")

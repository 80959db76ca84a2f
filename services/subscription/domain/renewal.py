"""What happens at term end (domain.md §3.5, §8 rule 5, §9.5): renew into a fresh term, or expire."""
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from services.subscription.domain.purchase import CANCELLATION_WINDOW, Subscription, term_end
from services.subscription.domain.scheduled import NextTerm


def renew(sub: Subscription, instant: datetime, unit_price: Decimal, next_term: NextTerm | None = None) -> Subscription:
    """The next term starts the day after the inclusive end, at the price effective then, with a new 168 h window;
    a scheduled change sets its offer, term, billing cycle and quantity."""
    if next_term is not None:
        sub = replace(sub, catalog_item_id=next_term.catalog_item_id, term_duration=next_term.term_duration,
                      billing_cycle=next_term.billing_cycle, quantity=next_term.quantity)
    start = sub.term_end + timedelta(days=1)
    return replace(sub, term_start=start, term_end=term_end(start, sub.term_duration),
                   cancellation_allowed_until=instant + CANCELLATION_WINDOW, unit_price=unit_price)

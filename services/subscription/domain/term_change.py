"""Changing the term mid-term (domain.md §3.10, §9.6, §9.11, §5.2 row 12, §9.4): only to a longer term, now."""
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from shared.dates import TERM_MONTHS
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule
from shared.rules.prices import Promo, discounted

from services.subscription.domain.changes import SuspendedError, not_active
from services.subscription.domain.purchase import (
    CANCELLATION_WINDOW,
    BillingCycleNotOfferedError,
    Subscription,
    term_end,
)
from services.subscription.domain.scheduled import TargetEndOfSaleError


class TrialTermChangeError(CommandRejectedError):
    code = "800107"


class ShorterTermError(CommandRejectedError):
    code = "TERM_NOT_LONGER"


class BillingOnlyChangeError(CommandRejectedError):
    code = "BILLING_CYCLE_CHANGE_MID_TERM"


def change_term(*, sub: Subscription, status: str, trial: bool, term: str, cycle: str, plans: frozenset[tuple[str, str]],
                eos: EosRule | None, unit_price: Decimal, now: datetime, promotion: Promo | None = None) -> Subscription:
    """The subscription on its new, longer term, starting today at the price now (less `promotion`, the one the new
    term and plan take if any: the one held for the old term is dropped, §2.5), with a new 168-hour window."""
    if status == "suspended":
        raise SuspendedError("the subscription is suspended; reactivate it before changing its term")
    if status != "active":
        raise not_active(status, f"the subscription is {status}; only an active subscription can change its term")
    if trial:
        raise TrialTermChangeError("a trial's term can't change; convert it instead")
    if term == sub.term_duration:
        raise BillingOnlyChangeError("a billing-cycle-only change can't be made mid-term since April 2025; "
                                     "schedule it for the next term")
    if TERM_MONTHS[term] < TERM_MONTHS[sub.term_duration]:
        raise ShorterTermError(f"mid-term the term can only get longer ({sub.term_duration} → {term} is shorter); "
                               "schedule a shorter term for the next term")
    if (term, cycle) not in plans:
        raise BillingCycleNotOfferedError(f"the offer has no {term} term billed {cycle}")
    if eos is not None:  # §9.4: no term change into an EOS, EOSwC or EOL combination
        raise TargetEndOfSaleError(f"the {term} {cycle} plan is {eos.state} since {eos.effective_date}")
    start = now.date()
    return replace(sub, full_price_seats=0, term_duration=term, billing_cycle=cycle, term_start=start, term_end=term_end(start, term),
                   anchor=None, unit_price=unit_price, cancellation_allowed_until=now + CANCELLATION_WINDOW,
                   promotion_id=promotion.promotion_id if promotion else None,
                   effective_unit_price=discounted(unit_price, promotion))

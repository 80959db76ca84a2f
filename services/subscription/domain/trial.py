"""Trials (domain.md §1.4, §3.8, §5.2 row 9): one per customer and offer; at its end a trial with auto-renew on
converts to the paid equivalent — P1Y billed monthly, same seats, no promotion — else it expires."""
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule

from services.subscription.domain.purchase import CANCELLATION_WINDOW, Subscription, term_end

CONVERSION_PLAN = ("P1Y", "monthly")


class TrialAlreadyUsedError(CommandRejectedError):
    code = "TRIAL_ALREADY_USED"


def check_first_trial(trials_held: int) -> None:
    if trials_held:
        raise TrialAlreadyUsedError("the customer has already had a trial of this offer (one per customer, lifetime)")


def convert_at_end(trial: Subscription, paid_item: str | None, eos: EosRule | None, unit_price: Decimal | None,
                   instant: datetime) -> Subscription | None:
    """The paid subscription the trial becomes at its end, or None when it can't (no paid equivalent, no price,
    or the paid plan is EndOfSale/EndOfLife: only EOSwC takes conversions)."""
    if paid_item is None or unit_price is None or (eos is not None and eos.state != "EndOfSaleWithConversions"):
        return None
    start = trial.term_end + timedelta(days=1)
    term, cycle = CONVERSION_PLAN
    return replace(trial, catalog_item_id=paid_item, term_duration=term, billing_cycle=cycle, term_start=start,
                   term_end=term_end(start, term), unit_price=unit_price, effective_unit_price=unit_price,
                   promotion_id=None, cancellation_allowed_until=instant + CANCELLATION_WINDOW)

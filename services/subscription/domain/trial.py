"""Trials (domain.md §1.4, §3.8, §5.2 row 9): one per customer and offer; at its end a trial with auto-renew on
converts to the paid equivalent — P1Y billed monthly, same seats, no promotion — else it expires."""
from dataclasses import replace
from datetime import date, datetime
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


class NotATrialError(CommandRejectedError):
    code = "NOT_A_TRIAL"


class TooFewSeatsError(CommandRejectedError):
    code = "900275"


class TargetEndsEarlierError(CommandRejectedError):
    code = "900236"


MIN_CONVERTED_SEATS = 25


def check_conversion(*, is_trial: bool, status: str, quantity: int, immediate: bool) -> None:
    """§3.8: only an active trial converts; immediately with at least 25 seats, scheduled with any number."""
    if not is_trial:
        raise NotATrialError("only a trial can be converted; upgrade a paid subscription with a transition")
    if status != "active":
        raise NotATrialError(f"the trial is {status}; only an active trial can be converted")
    if immediate and quantity < MIN_CONVERTED_SEATS:
        raise TooFewSeatsError(f"an immediate conversion needs at least {MIN_CONVERTED_SEATS} seats, not {quantity}")


def check_existing_target(trial: Subscription, target: Subscription, status: str) -> None:
    """Converting into an existing subscription: active, of the customer, ending no earlier than the trial."""
    if status != "active" or target.customer_id != trial.customer_id:
        raise CommandRejectedError("the target must be an active subscription of the same customer", "900258")
    if target.term_end < trial.term_end:
        raise TargetEndsEarlierError(f"the target ends on {target.term_end}, before the trial ({trial.term_end})")


def convert(trial: Subscription, *, paid_item: str | None, term: str, cycle: str, quantity: int, start: date,
            eos: EosRule | None, unit_price: Decimal | None, instant: datetime) -> Subscription | None:
    """The paid subscription the trial becomes from `start`, or None when it can't (no paid offer, no price, or
    the paid plan is EndOfSale/EndOfLife: only EOSwC takes conversions). No promotion applies (§3.8)."""
    if paid_item is None or unit_price is None or (eos is not None and eos.state != "EndOfSaleWithConversions"):
        return None
    return replace(trial, catalog_item_id=paid_item, term_duration=term, billing_cycle=cycle, quantity=quantity,
                   term_start=start, term_end=term_end(start, term), anchor=None, unit_price=unit_price,
                   effective_unit_price=unit_price, promotion_id=None,
                   cancellation_allowed_until=instant + CANCELLATION_WINDOW)


"""Which offers may exist and which are purchasable where and when (domain.md §1.2, §1.4, §5)."""
from collections.abc import Iterable
from datetime import datetime

from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule, eos_state
from shared.rules.plans import TRIAL_PLAN, VALID_PLANS



class BillingCycleLongerThanTermError(CommandRejectedError):
    code = "900270"


class InvalidOfferError(CommandRejectedError):
    code = "INVALID_COMMAND"


def check_offer(plans: list[tuple[str, str]], min_quantity: int, max_quantity: int, trial: bool) -> None:
    """Refuse an offer no subscription could satisfy: impossible plans or seat limits, or a trial billed like a sale."""
    for plan in plans:
        if trial and plan != TRIAL_PLAN:
            raise InvalidOfferError(f"a trial is P1M with billing cycle none, not {plan[0]} {plan[1]}")
        if not trial and plan not in VALID_PLANS:
            raise BillingCycleLongerThanTermError(f"billing cycle {plan[1]} is not offered with term {plan[0]}")
    if min_quantity > max_quantity:
        raise InvalidOfferError(f"min_quantity {min_quantity} exceeds max_quantity {max_quantity}")


def purchasable_plans(
    product_id: str, sku_id: str, plans: Iterable[tuple[str, str]], rules: list[EosRule], market: str, at: datetime
) -> list[tuple[str, str]]:
    """The plans of an offer no End-of-Sale state blocks in `market` at `at` (§5.2 row 1-2)."""
    return [(t, c) for t, c in plans if eos_state(rules, product_id, sku_id, market, t, c, at) is None]

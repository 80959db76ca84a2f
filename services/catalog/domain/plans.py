"""Which (term, billing cycle) combinations an offer may carry (domain.md §1.2)."""
from shared.rejection import CommandRejectedError

VALID_PLANS = {
    ("P1M", "monthly"),
    ("P1Y", "monthly"),
    ("P1Y", "annual"),
    ("P3Y", "monthly"),
    ("P3Y", "annual"),
    ("P3Y", "triennial"),
}
TRIAL_PLANS = {("P1M", "none")}


class BillingCycleLongerThanTermError(CommandRejectedError):
    code = "900270"


class SeatLimitsError(CommandRejectedError):
    code = "INVALID_COMMAND"


def check_offer(plans: list[tuple[str, str]], min_quantity: int, max_quantity: int) -> None:
    """Refuse an offer whose plans or seat limits no subscription could satisfy."""
    for term, cycle in plans:
        if (term, cycle) not in VALID_PLANS | TRIAL_PLANS:
            raise BillingCycleLongerThanTermError(f"billing cycle {cycle} is not offered with term {term}")
    if min_quantity > max_quantity:
        raise SeatLimitsError(f"min_quantity {min_quantity} exceeds max_quantity {max_quantity}")

"""Changes a partner makes during a term (domain.md §3.2–§3.5, §6): pure; `now` is the stamped instant.

Seats are held in batches, each refundable until 168 hours after it was added (purchase, renewal or increase);
a decrease may only give back refundable seats, newest first. Windows are inclusive to the second.
"""
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule
from shared.rules.prices import Promo

from services.subscription.domain.scheduled import NotEligibleForAutoRenewError
from services.subscription.domain.purchase import (
    CANCELLATION_WINDOW,
    QuantityOutOfRangeError,
    cancellation_window,
)


class SuspendedError(CommandRejectedError):
    code = "800091"


class NotActiveError(CommandRejectedError):
    code = "SUBSCRIPTION_NOT_ACTIVE"


def not_active(status: str, message: str) -> NotActiveError:
    """The refusal of a command its subscription's status rules out: Partner Center's 900277 for an expired one
    (§6, "subscription being expired"), else SUBSCRIPTION_NOT_ACTIVE."""
    return NotActiveError(message, "900277" if status == "expired" else None)


class DecreaseOutsideWindowError(CommandRejectedError):
    code = "800090"


class CancellationWindowPassedError(CommandRejectedError):
    code = "900117"


class PooledSeatLimitError(CommandRejectedError):
    code = "800088"


def check_pooled_room(room: int | None, added: int) -> None:
    """§1.7: a product:SKU with a pooled per-customer maximum takes `added` more seats only within the `room` its
    customer has left under it (None: no such maximum)."""
    if room is not None and added > room:
        raise PooledSeatLimitError(f"The requested number of {added} seats exceeds the remaining limit of {room} seats")


class TrialLockedError(CommandRejectedError):
    code = "TRIAL_NOT_CHANGEABLE"


@dataclass(frozen=True)
class Batch:
    quantity: int
    refundable_until: datetime
    full_price: bool = False  # charged the unit price without the subscription's promotion (§2.5: added outside its
    # window)


def full_price_seats(batches: list[Batch]) -> int:
    return sum(b.quantity for b in batches if b.full_price)


def added_at_full_price(promotion: Promo | None, now: datetime) -> bool:
    """§2.5: seats added to a subscription holding `promotion` take it inside its window, and pay the unit price
    without it after (or before) that."""
    return promotion is not None and not promotion.start_date <= now.date() <= promotion.end_date


def joining(seats: int, now: datetime, promotion: Promo | None, promoted: int) -> list[Batch]:
    """Seats an upgrade moves into a subscription holding `promotion` (not refundable), of which its customer holds
    or held `promoted` seats under it: inside its window they take it up to its seat maximum (§2.5); the rest, and
    all of them outside the window, pay the unit price without it (the newest batch, given back first)."""
    if promotion is None or added_at_full_price(promotion, now):
        return [Batch(seats, now, full_price=promotion is not None)]
    discounted = min(seats, max(0, promotion.max_quantity - promoted))
    return [b for b in (Batch(discounted, now), Batch(seats - discounted, now, full_price=True)) if b.quantity]


def opened(quantity: int, now: datetime, window: timedelta = CANCELLATION_WINDOW, full_price: int = 0) -> list[Batch]:
    """The seats of a purchase or renewal: all refundable for 168 hours (perpetual software: 30 days); `full_price`
    of them (a renewal's seats past its promotion's maximum) in a batch of their own, given back first."""
    if not full_price:
        return [Batch(quantity, now + window)]
    return [b for b in (Batch(quantity - full_price, now + window), Batch(full_price, now + window, full_price=True))
            if b.quantity]


def refundable(batches: list[Batch], now: datetime) -> list[Batch]:
    return [b for b in batches if b.quantity > 0 and now <= b.refundable_until]


def _require_active(status: str, what: str) -> None:
    if status == "suspended":
        raise SuspendedError(f"the subscription is suspended; reactivate it before you {what}")
    if status != "active":
        raise not_active(status, f"the subscription is {status}; only an active subscription can {what}")


def change_quantity(
    *, status: str, trial: bool, quantity: int, batches: list[Batch], new_quantity: int, now: datetime,
    min_quantity: int, max_quantity: int, pooled_room: int | None, kind: str = "license",
    promotion: Promo | None = None, promoted_elsewhere: int = 0,
) -> list[Batch]:
    """The seat batches after changing `quantity` to `new_quantity`. `promotion`: the one the subscription holds
    (§2.5): seats added inside its window take it, up to its seat maximum counted across the customer's
    subscriptions (`promoted_elsewhere`: the seats its others hold or held under it; an increase past it fails);
    seats added outside it are charged the unit price without it."""
    _require_active(status, "change its quantity")
    if trial:
        raise TrialLockedError("a trial's quantity can't change; convert it first")
    if not min_quantity <= new_quantity <= max_quantity:
        raise QuantityOutOfRangeError(f"quantity {new_quantity} is outside {min_quantity}..{max_quantity} for this offer")
    full_price = added_at_full_price(promotion, now)
    if promotion is not None and not full_price and quantity < new_quantity \
            and promotion.max_quantity < new_quantity + promoted_elsewhere:
        elsewhere = f"; {promoted_elsewhere} of them on the customer's other subscriptions" if promoted_elsewhere else ""
        raise QuantityOutOfRangeError("This subscription has a discount applied and the desired quantity is not within "
                                      f"minimum and maximum allowed quantity (at most {promotion.max_quantity} seats"
                                      f"{elsewhere})")
    if new_quantity >= quantity:
        added = new_quantity - quantity
        check_pooled_room(pooled_room, added)
        added_batch = Batch(added, now + cancellation_window(kind), full_price=full_price)
        return [*batches, added_batch] if added else batches
    removing = quantity - new_quantity
    if kind == "software_subscription":  # §1.5
        raise DecreaseOutsideWindowError("a software subscription's seats can't be reduced; cancel it within its "
                                         "7-day window instead")
    available = sum(b.quantity for b in refundable(batches, now))
    if removing > available:
        raise DecreaseOutsideWindowError(
            f"Subscription quantity can't be decreased by {removing}: {available} seats were added in the last "
            "168 hours; schedule the reduction for the next term instead")
    return take_seats(batches, removing, refundable_at=now)


def take_seats(batches: list[Batch], count: int, refundable_at: datetime | None = None) -> list[Batch]:
    """The batches less `count` seats, newest first (only refundable ones when `refundable_at` is given)."""
    result = list(batches)
    for i in reversed(range(len(result))):
        b = result[i]
        if count and (refundable_at is None or refundable_at <= b.refundable_until):
            taken = min(b.quantity, count)
            result[i], count = replace(b, quantity=b.quantity - taken), count - taken
    return [b for b in result if b.quantity > 0]


def _trial_status_locked(trial: bool) -> None:
    if trial:  # §1.4
        raise TrialLockedError("a trial's status can't change; turn auto-renew off to let it end, or convert it")


def cancel(status: str, cancellation_allowed_until: datetime, now: datetime, trial: bool = False) -> str:
    """The status after a cancellation inside the window (§3.4): deleted at once, unused days refunded."""
    _trial_status_locked(trial)
    if status not in ("active", "suspended"):
        raise not_active(status, f"the subscription is {status}; there is nothing to cancel")
    if now > cancellation_allowed_until:
        raise CancellationWindowPassedError(
            f"You have passed your 7-day cancellation window (it closed at {cancellation_allowed_until.isoformat()})")
    return "deleted"


def set_auto_renew(status: str, enabled: bool, kind: str, eos: EosRule | None = None) -> None:
    """Auto-renew on or off; never on for perpetual software (§1.5) or an EndOfLife plan (§5.2 row 4: off only)."""
    _require_active(status, "change auto-renew")
    if enabled and kind == "perpetual":
        raise NotEligibleForAutoRenewError("perpetual software never renews; auto-renew can't be turned on")
    if enabled and eos is not None and eos.state == "EndOfLife":
        raise NotEligibleForAutoRenewError(f"the plan is EndOfLife since {eos.effective_date} and won't renew; "
                                           "auto-renew can only be turned off")


def suspend(status: str, trial: bool = False) -> str:
    _trial_status_locked(trial)
    if status != "active":
        raise not_active(status, f"the subscription is {status}; only an active subscription can be suspended")
    return "suspended"


def reactivate(status: str, term_end_instant: datetime, now: datetime) -> str:
    if status != "suspended":
        raise not_active(status, f"the subscription is {status}; only a suspended subscription can be reactivated")
    if now >= term_end_instant:
        raise NotActiveError("the term has ended; a suspended subscription can't be reactivated after its term")
    return "active"

"""Upgrading a subscription now (domain.md §3.9, §5.2 rows 8 and 15): pure.

Full upgrade: same subscription, new offer. Partial: the source keeps the rest and a new coterminous child takes
the seats, inheriting the source's cancellation window. Into an existing subscription: it must be active, out of
its window, on a term no shorter and ending no earlier, and of the target offer.
"""
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from shared.dates import TERM_MONTHS
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule
from shared.rules.prices import Promo, discounted

from services.subscription.domain.changes import SuspendedError, not_active
from services.subscription.domain.purchase import QuantityOutOfRangeError, Subscription
from services.subscription.domain.scheduled import NotAnUpgradeError, TargetEndOfSaleError


class TargetError(CommandRejectedError):
    """A target subscription that can't receive the seats; `code` per domain.md §3.9 / §6."""


@dataclass(frozen=True)
class Transition:
    kind: str  # full | partial | existing
    source: Subscription  # after the move (a full upgrade: the upgraded subscription itself)
    target: Subscription  # the subscription now holding the moved seats
    moved: int


def _product_sku(catalog_item_id: str) -> str:
    return catalog_item_id.rsplit(":", 1)[0]


def _check_existing(sub: Subscription, target: Subscription, status: str, target_item: str, now: datetime) -> None:
    if target.subscription_id == sub.subscription_id:
        raise TargetError("a subscription can't transition into itself", "900259")
    if status != "active":
        raise TargetError(f"the target subscription is {status}, not active", "900258")
    if now <= target.cancellation_allowed_until:
        raise TargetError("the target subscription is still inside its cancellation window",
                          "TARGET_IN_CANCELLATION_WINDOW")
    if TERM_MONTHS[target.term_duration] < TERM_MONTHS[sub.term_duration]:
        raise TargetError("the target's term is shorter than the source's", "900267")
    if target.term_end < sub.term_end:
        raise TargetError(f"the target ends on {target.term_end}, before the source ({sub.term_end})", "900236")
    if target.catalog_item_id != target_item:
        raise TargetError(f"the target subscription is {target.catalog_item_id}, not {target_item}", "900260")


def transition(
    *, sub: Subscription, status: str, upgrade_targets: list[str], target_item: str, term: str, cycle: str,
    quantity: int, now: datetime, eos: EosRule | None, unit_price: Decimal, child_id: str,
    existing: tuple[Subscription, str] | None = None, promotion: Promo | None = None,
) -> Transition:
    """`promotion`: the target offer's, on its term and plan, that the moved seats take (§2.5), if any."""
    if status == "suspended":
        raise SuspendedError("the subscription is suspended; reactivate it before upgrading")
    if status != "active":
        raise not_active(status, f"the subscription is {status}; only an active subscription can be upgraded")
    if _product_sku(target_item) not in upgrade_targets:
        raise NotAnUpgradeError(f"{target_item} is not an upgrade target of {sub.catalog_item_id}; "
                                "downgrades are not supported")
    if not 1 <= quantity <= sub.quantity:
        raise QuantityOutOfRangeError(f"between 1 and {sub.quantity} seats can move, not {quantity}")
    if eos is not None and eos.state != "EndOfSaleWithConversions":  # row 8: only EOSwC takes conversions
        raise TargetEndOfSaleError(f"the target plan is {eos.state} since {eos.effective_date}")
    left = replace(sub, quantity=sub.quantity - quantity)
    if existing is not None:
        target, target_status = existing
        _check_existing(sub, target, target_status, target_item, now)
        return Transition("existing", left, replace(target, quantity=target.quantity + quantity), quantity)
    upgraded = dict(catalog_item_id=target_item, term_duration=term, billing_cycle=cycle, unit_price=unit_price,
                    effective_unit_price=discounted(unit_price, promotion),  # the held one is for its own offer
                    promotion_id=promotion.promotion_id if promotion else None, full_price_seats=0)
    if quantity == sub.quantity:
        full = replace(sub, **upgraded)  # type: ignore[arg-type]
        return Transition("full", full, full, quantity)
    child = replace(sub, subscription_id=child_id, quantity=quantity, term_start=now.date(),
                    anchor=sub.anchor or sub.term_start,  # coterminous, its cycles its parent's (§4.2)
                    **upgraded)  # type: ignore[arg-type]  # inherits the window
    return Transition("partial", left, child, quantity)

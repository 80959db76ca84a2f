"""The subscription service's handler registry and what its handlers share: locking, authorizing, facts."""
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from services.subscription import storage
from services.subscription.domain import changes, lifecycle, scheduled
from services.subscription.domain.actors import check_acts_for
from services.subscription.domain.purchase import NoPriceError, Subscription
from services.subscription.domain.scheduled import NextTerm
from shared.contracts.subscription import (
    ChangeScheduled,
    ScheduledChangeCancelled,
    SubscriptionDisabled,
    SubscriptionExpired,
    SubscriptionFacts,
    SubscriptionTerms,
)
from shared.contracts.subscription import NextTerm as NextTermData
from shared.messaging.handlers import Context, Handlers
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule, eos_state
from shared.rules.prices import next_term_row

handlers = Handlers("subscription")

def _authorize(ctx: Context, partner_id: str, hidden: CommandRejectedError | None = None) -> None:
    check_acts_for(ctx.envelope.actor, partner_id, ctx.envelope.type, hidden)


async def _locked(ctx: Context, subscription_id: str) -> storage.Locked:
    """The subscription, locked for this transaction, with what commands on it are decided on, once the actor is
    known to be allowed to act on it (another partner's answers as unknown)."""
    found = await storage.locked(ctx.conn, subscription_id)
    unknown = CommandRejectedError(f"no subscription {subscription_id}", "UNKNOWN_SUBSCRIPTION")
    if found is None:
        raise unknown
    _authorize(ctx, found.sub.partner_id, unknown)
    lifecycle.check_term_not_ending(found.status, found.offer.kind if found.offer else "license",
                                    found.sub.term_start, found.sub.term_end, ctx.now)
    return found


_FACTS = frozenset(SubscriptionFacts.model_fields) - {"at"}  # read once: pydantic's model_fields is a property
_TERMS = frozenset(SubscriptionTerms.model_fields)


def _facts(sub: Subscription, now: datetime) -> dict[str, Any]:
    return {**{k: v for k, v in vars(sub).items() if k in _FACTS}, "at": now}  # vars: asdict deep-copies


def _terms(sub: Subscription) -> SubscriptionTerms:
    return SubscriptionTerms(**{k: v for k, v in vars(sub).items() if k in _TERMS})


async def _wipe(ctx: Context, sub: Subscription, pending: NextTerm | None, reason: str, at: datetime) -> None:
    """Delete the pending next-term change, as read with the lock (§3.6: any mid-term change, cancel, auto-renew
    off, suspension wipes it)."""
    if pending is None:
        return
    await storage.set_scheduled_change(ctx.conn, sub.subscription_id, None)
    cancelled = ScheduledChangeCancelled(**_facts(sub, at), reason=reason)
    if reason == "requested":  # subscription.cancel_scheduled_change: this is the command's outcome
        await ctx.emit("subscription.scheduled_change_cancelled", cancelled, key=sub.customer_id)
    else:
        ctx.emit_side_effect("subscription.scheduled_change_cancelled", cancelled, key=sub.customer_id)


async def _eos(ctx: Context, catalog_item_id: str, market: str, term: str, cycle: str,
               at: datetime | None = None) -> EosRule | None:
    """The End-of-Sale rule in force for a plan at `at` (default: the command's stamp), or None when Active."""
    return _eos_in(await storage.eos_rules(ctx.conn, catalog_item_id), catalog_item_id, market, term, cycle,
                   at or ctx.now)


def _eos_in(rules: list[EosRule], catalog_item_id: str, market: str, term: str, cycle: str,
            at: datetime) -> EosRule | None:
    """As _eos, among the End-of-Sale rules of the item's product already read."""
    product_id, sku_id, _ = catalog_item_id.split(":")
    return eos_state(rules, product_id, sku_id, market, term, cycle, at)


async def _schedule(ctx: Context, found: storage.Locked, wanted: NextTerm) -> None:
    sub = found.sub
    next_term = scheduled.schedule(
        sub=sub, status=found.status,
        upgrade_targets=await storage.upgrade_targets(ctx.conn, sub.catalog_item_id),
        target=await storage.offer(ctx.conn, wanted.catalog_item_id), wanted=wanted,
        eos=await _eos(ctx, wanted.catalog_item_id, sub.market, wanted.term_duration, wanted.billing_cycle),
        trial=bool(found.offer and found.offer.trial), kind=found.offer.kind if found.offer else "license",
        segment=await storage.customer_segment(ctx.conn, sub.customer_id),
        others=await storage.term_ends(ctx.conn, sub.customer_id, other_than=sub.subscription_id)
        if wanted.custom_term_end_date else None,
    )
    changes.check_pooled_room(await storage.pooled_room(ctx.conn, sub.customer_id, next_term.catalog_item_id,
                                                        sub.subscription_id), next_term.quantity)
    rows = await storage.price_rows(ctx.conn, next_term.catalog_item_id, sub.market, sub.currency,
                                    next_term.term_duration, next_term.billing_cycle)
    if next_term_row(rows, sub.term_end + timedelta(days=1), next_term.quantity,  # §2.4: never derive a price
                     next_term.catalog_item_id == sub.catalog_item_id) is None:
        raise NoPriceError(f"no {sub.currency} price for {next_term.quantity} seats of {next_term.catalog_item_id}"
                                 f" {next_term.term_duration} {next_term.billing_cycle} in {sub.market}")
    await storage.set_scheduled_change(ctx.conn, sub.subscription_id, next_term)
    await ctx.emit("subscription.change_scheduled", ChangeScheduled(**_facts(sub, ctx.now),
                   scheduled_change=NextTermData(**asdict(next_term))), key=sub.customer_id)


async def _expire(ctx: Context, sub: Subscription, at: datetime, reason: str) -> None:
    await storage.set_status(ctx.conn, sub.subscription_id, "expired")
    step = lifecycle.next_step("expired", at)
    await ctx.emit("subscription.expired", SubscriptionExpired(
        subscription_id=sub.subscription_id, partner_id=sub.partner_id, customer_id=sub.customer_id,
        term_end=sub.term_end, reason=reason, next_step_at=step[1] if step else None), key=sub.customer_id)


async def _disable(ctx: Context, sub: Subscription, at: datetime, reason: str) -> None:
    await storage.set_status(ctx.conn, sub.subscription_id, "disabled")
    step = lifecycle.next_step("disabled", at, suspended_at_term_end=reason == "suspended_at_term_end")
    assert step is not None
    await ctx.emit("subscription.disabled", SubscriptionDisabled(
        subscription_id=sub.subscription_id, partner_id=sub.partner_id, customer_id=sub.customer_id, reason=reason,
        at=at, next_step_at=step[1]), key=sub.customer_id)

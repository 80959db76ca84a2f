"""Trial conversion (domain.md §3.8, §5.2 row 9): now, into an existing subscription, or at trial end."""
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from shared.contracts.subscription import ConvertTrial, TrialConverted
from shared.contracts.subscription import NextTerm as NextTermData
from shared.contracts.subscription import ChangeScheduled
from shared.messaging.handlers import Context
from shared.rejection import CommandRejectedError
from shared.rules.prices import select_row

from services.subscription import storage
from services.subscription.domain import changes, trial
from services.subscription.domain import purchase as rules
from services.subscription.domain.purchase import Subscription
from services.subscription.domain.scheduled import (
    NextTerm,
    NotAnUpgradeError,
    NotEligibleForAutoRenewError,
    TargetEndOfSaleError,
)
from services.subscription.handlers.common import _eos, _expire, _facts, _locked, _terms, _wipe, handlers


async def _price(ctx: Context, sub: Subscription, item: str, term: str, cycle: str, quantity: int,
                 on: datetime) -> Decimal | None:
    row = select_row(await storage.price_rows(ctx.conn, item, sub.market, sub.currency, term, cycle), on.date(),
                     quantity)  # the paid offer is another offer: a row in effect, never one that has ended
    return row.unit_price if row else None


async def _convert_trial(ctx: Context, sub: Subscription, instant: datetime, completed: datetime) -> None:
    """At the end of a trial with auto-renew on (`instant`): as scheduled, else the paid equivalent, P1Y monthly,
    same seats; its window opens when the conversion completes (`completed`, §3.5)."""
    scheduled = await storage.scheduled_change(ctx.conn, sub.subscription_id)
    paid = scheduled.catalog_item_id if scheduled else await storage.paid_equivalent(ctx.conn, sub.catalog_item_id,
                                                                                      sub.market)
    term, cycle = (scheduled.term_duration, scheduled.billing_cycle) if scheduled else trial.CONVERSION_PLAN
    quantity = scheduled.quantity if scheduled else sub.quantity
    eos = await _eos(ctx, paid, sub.market, term, cycle, instant) if paid else None
    if scheduled and eos is not None and eos.state != "EndOfLife":
        eos = None  # §5.1: a conversion scheduled (into a plan then on sale) before an End of Sale is honoured
    converted = trial.convert(
        sub, paid_item=paid, term=term, cycle=cycle, quantity=quantity, start=sub.term_end + timedelta(days=1),
        eos=eos,
        unit_price=await _price(ctx, sub, paid, term, cycle, quantity, instant) if paid else None,
        instant=completed)
    room = await storage.pooled_room(ctx.conn, sub.customer_id, paid, sub.subscription_id) if paid else None
    if converted is None or room is not None and converted.quantity > room:  # §1.7: not past the pooled maximum
        await _expire(ctx, sub, instant, "trial_not_convertible")
        return
    await _into_paid_term(ctx, sub, converted, instant, completed)


async def _into_paid_term(ctx: Context, sub: Subscription, converted: Subscription, at: datetime,
                          completed: datetime) -> None:
    await storage.save_term(ctx.conn, converted, changes.opened(converted.quantity, completed))
    await ctx.emit("subscription.trial_converted", TrialConverted(**_facts(converted, at), quantity=converted.quantity,
                                                                  trial=_terms(sub)), key=sub.customer_id)


@handlers.on("subscription.convert_trial")
async def on_convert_trial(ctx: Context, cmd: ConvertTrial) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub, status, offer = found.sub, found.status, found.offer
    immediate = cmd.when == "immediate"
    trial.check_conversion(is_trial=bool(offer and offer.trial), status=status, quantity=cmd.quantity,
                           immediate=immediate)
    if cmd.target_subscription_id:
        if not immediate:
            raise CommandRejectedError("only an immediate conversion can go into an existing subscription")
        await _into_existing(ctx, found, cmd)
        return
    paid = cmd.catalog_item_id or await storage.paid_equivalent(ctx.conn, sub.catalog_item_id, sub.market)
    if paid is None:
        raise rules.UnknownOfferError(f"no paid offer to convert {sub.catalog_item_id} to in {sub.market}")
    term, cycle = cmd.term_duration or trial.CONVERSION_PLAN[0], cmd.billing_cycle or trial.CONVERSION_PLAN[1]
    if cmd.catalog_item_id:
        await _check_chosen(ctx, sub, paid, term, cycle, cmd.quantity)
    changes.check_pooled_room(await storage.pooled_room(ctx.conn, sub.customer_id, paid, sub.subscription_id),
                              cmd.quantity)
    eos = await _eos(ctx, paid, sub.market, term, cycle)
    if eos is not None and eos.state != "EndOfSaleWithConversions":  # row 9
        raise TargetEndOfSaleError(f"the {term} {cycle} plan of {paid} is {eos.state} since {eos.effective_date}")
    if not immediate:
        if not sub.auto_renew:
            raise NotEligibleForAutoRenewError("a scheduled conversion needs auto-renew on")
        next_term = NextTerm(paid, term, cycle, cmd.quantity, ctx.now)
        await storage.set_scheduled_change(ctx.conn, sub.subscription_id, next_term)
        await ctx.emit("subscription.change_scheduled", ChangeScheduled(**_facts(sub, ctx.now),
                       scheduled_change=NextTermData(**next_term.__dict__)), key=sub.customer_id)
        return
    price = await _price(ctx, sub, paid, term, cycle, cmd.quantity, ctx.now)
    if price is None:
        raise rules.NoPriceError(f"no {sub.currency} price for {paid} {term} {cycle} in {sub.market} now")
    converted = trial.convert(sub, paid_item=paid, term=term, cycle=cycle, quantity=cmd.quantity,
                              start=ctx.now.date(), eos=eos, unit_price=price, instant=ctx.now)
    assert converted is not None
    await _wipe(ctx, sub, found.next_term, "trial_converted", ctx.now)
    await _into_paid_term(ctx, sub, converted, ctx.now, ctx.now)


async def _into_existing(ctx: Context, trial_found: storage.Locked, cmd: ConvertTrial) -> None:
    sub = trial_found.sub
    found = await storage.locked(ctx.conn, cmd.target_subscription_id or "")
    if found is None or found.sub.customer_id != sub.customer_id:  # as unknown: it may be another partner's
        raise CommandRejectedError(f"no subscription {cmd.target_subscription_id} of this customer", "900258")
    target, target_status = found.sub, found.status
    trial.check_existing_target(sub, target, target_status)
    await _check_converts_into(ctx, sub, target.catalog_item_id)
    changes.check_pooled_room(await storage.pooled_room(ctx.conn, sub.customer_id, target.catalog_item_id,
                                                        sub.subscription_id), cmd.quantity)
    eos = await _eos(ctx, target.catalog_item_id, sub.market, target.term_duration, target.billing_cycle)
    if eos is not None and eos.state != "EndOfSaleWithConversions":
        raise TargetEndOfSaleError(f"the target's plan is {eos.state} since {eos.effective_date}")
    added = replace(changes.opened(cmd.quantity, ctx.now)[0], full_price=target.promotion_id is not None)  # §3.8: none
    seats = [*found.batches, added]
    await storage.save_batches(ctx.conn, target.subscription_id, seats)
    await _wipe(ctx, sub, trial_found.next_term, "trial_converted", ctx.now)
    await storage.set_status(ctx.conn, sub.subscription_id, "converted")
    after = replace(target, quantity=target.quantity + cmd.quantity, full_price_seats=changes.full_price_seats(seats))
    await _wipe(ctx, after, found.next_term, "trial_converted", ctx.now)  # seats added: its scheduled change goes
    await ctx.emit("subscription.trial_converted", TrialConverted(**_facts(after, ctx.now), quantity=after.quantity,
                                                                  trial=_terms(sub)), key=sub.customer_id)


async def _check_converts_into(ctx: Context, sub: Subscription, item: str) -> None:
    """§3.8: a trial converts into its paid SKU or a higher tier (an upgrade target of it)."""
    paid = await storage.paid_equivalent(ctx.conn, sub.catalog_item_id, sub.market)
    allowed = {paid.rsplit(":", 1)[0], *await storage.upgrade_targets(ctx.conn, paid)} if paid else set()
    if item.rsplit(":", 1)[0] not in allowed:
        raise NotAnUpgradeError(f"a {sub.catalog_item_id} trial converts into its paid SKU or a higher tier, "
                                f"not {item}")


async def _check_chosen(ctx: Context, sub: Subscription, item: str, term: str, cycle: str, quantity: int) -> None:
    """An offer the partner chose to convert into: one it may convert into (§3.8), sold in the trial's market on that
    term and plan, for that many seats."""
    await _check_converts_into(ctx, sub, item)
    rules.check_sold(await storage.offer(ctx.conn, item), item, sub.market, term, cycle, quantity,
                     segment=await storage.customer_segment(ctx.conn, sub.customer_id))

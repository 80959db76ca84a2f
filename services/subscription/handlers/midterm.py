"""Changes partners make during a term: seats, auto-renew, cancel, suspend, scheduled changes, upgrades."""
from dataclasses import replace
from datetime import timedelta
from uuid import NAMESPACE_URL, uuid5

from services.subscription import storage
from services.subscription.domain import changes
from services.subscription.domain import purchase as rules
from services.subscription.domain.purchase import Subscription
from services.subscription.domain.scheduled import NextTerm
from services.subscription.domain.term_change import change_term
from services.subscription.domain.transition import transition
from services.subscription.handlers.common import (
    _eos,
    _eos_in,
    _facts,
    _locked,
    _schedule,
    _terms,
    _wipe,
    handlers,
)
from shared.contracts.subscription import (
    AutoRenewChanged,
    ChangeQuantity,
    ChangeTerm,
    QuantityChanged,
    ScheduleChange,
    SetAutoRenew,
    SubscriptionCancelled,
    SubscriptionCommand,
    SubscriptionReactivated,
    SubscriptionSuspended,
    TermChanged,
    Transitioned,
)
from shared.contracts.subscription import Transition as TransitionCommand
from shared.dates import start_of_day
from shared.messaging.handlers import Context
from shared.rejection import CommandRejectedError
from shared.rules.prices import Promo, best_promotion, select_row


@handlers.on("subscription.change_quantity")
async def on_change_quantity(ctx: Context, cmd: ChangeQuantity) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub, offer = found.sub, found.offer
    seats = changes.change_quantity(
        status=found.status, trial=bool(offer and offer.trial), quantity=sub.quantity, batches=found.batches,
        new_quantity=cmd.quantity, now=ctx.now, min_quantity=offer.min_quantity if offer else 1,
        max_quantity=offer.max_quantity if offer else cmd.quantity, pooled_room=found.room,
        kind=offer.kind if offer else "license",
        promotion=found.promotion, promoted_elsewhere=found.promoted_elsewhere,
    )
    await storage.save_batches(ctx.conn, sub.subscription_id, seats)
    await _wipe(ctx, sub, found.next_term, "quantity_changed", ctx.now)
    changed = replace(sub, full_price_seats=changes.full_price_seats(seats))
    await ctx.emit("subscription.quantity_changed", QuantityChanged(
        **_facts(changed, ctx.now), quantity_before=sub.quantity, quantity_after=cmd.quantity,
        full_price_seats_before=sub.full_price_seats), key=sub.customer_id)


@handlers.on("subscription.set_auto_renew")
async def on_set_auto_renew(ctx: Context, cmd: SetAutoRenew) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub, offer = found.sub, found.offer
    changes.set_auto_renew(found.status, cmd.enabled, offer.kind if offer else "license",
                           _eos_in(found.eos_rules, sub.catalog_item_id, sub.market, sub.term_duration,
                                   sub.billing_cycle, ctx.now))
    await storage.set_auto_renew(ctx.conn, sub.subscription_id, cmd.enabled)
    if not cmd.enabled:
        await _wipe(ctx, sub, found.next_term, "auto_renew_off", ctx.now)
    await ctx.emit("subscription.auto_renew_changed", AutoRenewChanged(**_facts(sub, ctx.now), enabled=cmd.enabled),
                   key=sub.customer_id)


@handlers.on("subscription.cancel")
async def on_cancel(ctx: Context, cmd: SubscriptionCommand) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub = found.sub
    await storage.set_status(ctx.conn, sub.subscription_id, changes.cancel(
        found.status, sub.cancellation_allowed_until, ctx.now, trial=bool(found.offer and found.offer.trial)))
    await _wipe(ctx, sub, found.next_term, "cancelled", ctx.now)
    await ctx.emit("subscription.cancelled", SubscriptionCancelled(**_facts(sub, ctx.now), quantity=sub.quantity),
                   key=sub.customer_id)


@handlers.on("subscription.suspend")
async def on_suspend(ctx: Context, cmd: SubscriptionCommand) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub = found.sub
    await storage.set_status(ctx.conn, sub.subscription_id,
                             changes.suspend(found.status, trial=bool(found.offer and found.offer.trial)))
    await storage.set_auto_renew(ctx.conn, sub.subscription_id, False)  # §3.2: suspending turns auto-renew off
    await _wipe(ctx, sub, found.next_term, "suspended", ctx.now)
    await ctx.emit("subscription.suspended", SubscriptionSuspended(**_facts(sub, ctx.now)), key=sub.customer_id)


@handlers.on("subscription.reactivate")
async def on_reactivate(ctx: Context, cmd: SubscriptionCommand) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub = found.sub
    new_status = changes.reactivate(found.status, start_of_day(sub.term_end + timedelta(days=1)), ctx.now)
    await storage.set_status(ctx.conn, sub.subscription_id, new_status)
    await ctx.emit("subscription.reactivated", SubscriptionReactivated(**_facts(sub, ctx.now)), key=sub.customer_id)


@handlers.on("subscription.schedule_change")
async def on_schedule_change(ctx: Context, cmd: ScheduleChange) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub = found.sub
    wanted = NextTerm(cmd.catalog_item_id or sub.catalog_item_id, cmd.term_duration or sub.term_duration,
                      cmd.billing_cycle or sub.billing_cycle, cmd.quantity or sub.quantity, ctx.now,
                      cmd.custom_term_end_date)
    await _schedule(ctx, found, wanted)


@handlers.on("subscription.cancel_scheduled_change")
async def on_cancel_scheduled_change(ctx: Context, cmd: SubscriptionCommand) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    if found.next_term is None:
        raise CommandRejectedError("the subscription has no scheduled change", "NO_SCHEDULED_CHANGE")
    await _wipe(ctx, found.sub, found.next_term, "requested", ctx.now)


@handlers.on("subscription.transition")
async def on_transition(ctx: Context, cmd: TransitionCommand) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub, status = found.sub, found.status
    term, cycle = cmd.term_duration or sub.term_duration, cmd.billing_cycle or sub.billing_cycle
    wanted = NextTerm(cmd.target_catalog_item_id, term, cycle, cmd.quantity, ctx.now)
    if cmd.when == "at_renewal":
        if cmd.target_subscription_id:
            raise CommandRejectedError("only an immediate transition can go into an existing subscription")
        await _schedule(ctx, found, wanted)
        return
    rules.check_sold(await storage.offer(ctx.conn, wanted.catalog_item_id), wanted.catalog_item_id, sub.market, term,
                     cycle, segment=await storage.customer_segment(ctx.conn, sub.customer_id))
    target = None
    if cmd.target_subscription_id:
        target = await storage.locked(ctx.conn, cmd.target_subscription_id)
        if target is None or target.sub.customer_id != sub.customer_id:
            raise CommandRejectedError(f"no subscription {cmd.target_subscription_id} of this customer", "900258")
    changes.check_pooled_room(await storage.pooled_room(ctx.conn, sub.customer_id, wanted.catalog_item_id,
                                                        sub.subscription_id), cmd.quantity)
    rows = await storage.price_rows(ctx.conn, wanted.catalog_item_id, sub.market, sub.currency, term, cycle)
    row = select_row(rows, ctx.now.date(), cmd.quantity)
    if row is None and target is None:
        raise rules.NoPriceError(f"no {sub.currency} price for {wanted.catalog_item_id} in {sub.market} now")
    moved = transition(
        sub=sub, status=status, upgrade_targets=await storage.upgrade_targets(ctx.conn, sub.catalog_item_id),
        target_item=wanted.catalog_item_id, term=term, cycle=cycle, quantity=cmd.quantity, now=ctx.now,
        eos=await _eos(ctx, wanted.catalog_item_id, sub.market, term, cycle),
        unit_price=row.unit_price if row else sub.unit_price,
        promotion=None if target else await _promotion(ctx, sub, wanted.catalog_item_id, term, cycle, cmd.quantity),
        child_id=str(uuid5(NAMESPACE_URL, f"nce:subscription:{ctx.envelope.id}")),
        existing=(target.sub, target.status) if target else None,
    )
    await _wipe(ctx, sub, found.next_term, "transitioned", ctx.now)
    if target is not None:  # seats added to it: a quantity change, which wipes its scheduled change too (§3.6)
        await _wipe(ctx, moved.target, target.next_term, "transitioned", ctx.now)
    source = moved.source
    if moved.kind == "full":  # every seat on the new offer's price
        await storage.save_term(ctx.conn, source, [replace(b, full_price=False) for b in found.batches])
    else:
        left = changes.take_seats(found.batches, moved.moved)
        source = replace(source, full_price_seats=changes.full_price_seats(left))
        await storage.save_batches(ctx.conn, sub.subscription_id, left)
        if source.quantity == 0:
            await storage.set_status(ctx.conn, sub.subscription_id, "deleted")
    if moved.kind == "partial":
        await storage.insert_subscription(ctx.conn, moved.target, ctx.now,
                                          [changes.Batch(moved.moved, sub.cancellation_allowed_until)],  # inherited
                                          parent=sub.subscription_id)
    elif target is not None:  # the moved seats take its promotion inside the window, up to its maximum (§2.5)
        promoted = target.sub.quantity - target.sub.full_price_seats + target.promoted_elsewhere
        seats = [*target.batches, *changes.joining(moved.moved, ctx.now, target.promotion, promoted)]
        await storage.save_batches(ctx.conn, moved.target.subscription_id, seats)
        moved = replace(moved, target=replace(moved.target, full_price_seats=changes.full_price_seats(seats)))
    await ctx.emit("subscription.transitioned", Transitioned(
        **_facts(source, ctx.now), kind=moved.kind, quantity_before=sub.quantity,
        quantity_after=source.quantity, moved=moved.moved,
        target=_terms(moved.target),
        target_quantity_after=moved.target.quantity), key=sub.customer_id)


@handlers.on("subscription.change_term")
async def on_change_term(ctx: Context, cmd: ChangeTerm) -> None:
    found = await _locked(ctx, cmd.subscription_id)
    sub, offer = found.sub, found.offer
    rows = await storage.price_rows(ctx.conn, sub.catalog_item_id, sub.market, sub.currency, cmd.term_duration,
                                    cmd.billing_cycle)
    row = select_row(rows, ctx.now.date(), sub.quantity)
    changed = change_term(
        sub=sub, status=found.status, trial=bool(offer and offer.trial), term=cmd.term_duration,
        cycle=cmd.billing_cycle, plans=offer.plans if offer else frozenset(),
        eos=_eos_in(found.eos_rules, sub.catalog_item_id, sub.market, cmd.term_duration, cmd.billing_cycle, ctx.now),
        unit_price=row.unit_price if row else sub.unit_price, now=ctx.now,
        promotion=await _promotion(ctx, sub, sub.catalog_item_id, cmd.term_duration, cmd.billing_cycle, sub.quantity),
    )
    if row is None:
        raise rules.NoPriceError(f"no {sub.currency} price for the {cmd.term_duration} {cmd.billing_cycle} plan now")
    await _wipe(ctx, sub, found.next_term, "term_changed", ctx.now)
    await storage.save_term(ctx.conn, changed, changes.opened(sub.quantity, ctx.now))
    await ctx.emit("subscription.term_changed", TermChanged(**_facts(changed, ctx.now), quantity=sub.quantity,
                                                            previous=_terms(sub)), key=sub.customer_id)


async def _promotion(ctx: Context, sub: Subscription, item: str, term: str, cycle: str, quantity: int) -> Promo | None:
    """The promotion a mid-term change to `item` on that term and plan takes now, if any (§2.5: such changes take
    one when eligible, and drop the one held for another term or offer)."""
    promos, redeemed = await storage.promotions(ctx.conn, sub.customer_id, item, sub.subscription_id)
    product_id, sku_id, _ = item.split(":")
    return best_promotion(promos, product_id=product_id, sku_id=sku_id, term=term, cycle=cycle, market=sub.market,
                          on=ctx.now.date(), quantity=quantity, redeemed=redeemed)

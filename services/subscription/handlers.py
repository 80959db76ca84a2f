"""The subscription service's inbound messages: its commands, and the catalog and pricing events it copies."""
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from shared.contracts.catalog import EosChanged, OfferPublished
from shared.contracts.pricing import PricesPublished, PromotionPublished
from shared.contracts.subscription import NextTerm as NextTermData
from shared.contracts.subscription import Transition as TransitionCommand
from shared.contracts.subscription import (
    CustomerRegistered,
    PartnerRegistered,
    Purchase,
    RegisterCustomer,
    RegisterPartner,
    AutoRenewChanged,
    ChangeQuantity,
    ChangeScheduled,
    ChangeTerm,
    ScheduleChange,
    TermChanged,
    TrialConverted,
    SubscriptionTerms,
    Transitioned,
    ScheduledChangeCancelled,
    QuantityChanged,
    SetAutoRenew,
    SubscriptionCancelled,
    SubscriptionCommand,
    SubscriptionCreated,
    SubscriptionDeleted,
    SubscriptionDisabled,
    SubscriptionExpired,
    SubscriptionFacts,
    SubscriptionReactivated,
    SubscriptionRenewed,
    SubscriptionSuspended,
)
from shared.contracts.scheduler import LifecycleStepDue, TermEnded
from shared.dates import start_of_day
from shared.messaging.handlers import Context, Handlers
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule, eos_state
from shared.rules.prices import best_promotion, renewal_row, select_row

from services.subscription import storage
from services.subscription.domain import changes, lifecycle, scheduled, trial
from services.subscription.domain import purchase as rules
from services.subscription.domain.changes import PooledSeatLimitError
from services.subscription.domain.purchase import Subscription
from services.subscription.domain.scheduled import NextTerm
from services.subscription.domain.term_change import change_term
from services.subscription.domain.transition import transition
from services.subscription.domain.actors import check_acts_for
from services.subscription.domain.renewal import renew

handlers = Handlers("subscription")


def _authorize(ctx: Context, partner_id: str) -> None:
    actor = ctx.envelope.actor
    check_acts_for(actor.partner_id if actor else None, actor.roles if actor else [], partner_id, ctx.envelope.type)


@handlers.on("catalog.offer_published")
async def on_offer_published(ctx: Context, event: OfferPublished) -> None:
    await storage.upsert_offer(ctx.conn, event)


@handlers.on("catalog.eos_changed")
async def on_eos_changed(ctx: Context, event: EosChanged) -> None:
    await storage.upsert_eos_rule(ctx.conn, event)


@handlers.on("pricing.promotion_published")
async def on_promotion_published(ctx: Context, event: PromotionPublished) -> None:
    await storage.upsert_promotion(ctx.conn, event)


@handlers.on("pricing.prices_published")
async def on_prices_published(ctx: Context, event: PricesPublished) -> None:
    await storage.upsert_prices(ctx.conn, event)


@handlers.on("partner.register")
async def on_register_partner(ctx: Context, cmd: RegisterPartner) -> None:
    _authorize(ctx, cmd.partner_id)
    await storage.upsert_partner(ctx.conn, cmd)
    await ctx.emit("partner.registered", PartnerRegistered(**cmd.model_dump()), key=cmd.partner_id)


@handlers.on("customer.register")
async def on_register_customer(ctx: Context, cmd: RegisterCustomer) -> None:
    _authorize(ctx, cmd.partner_id)
    if not await storage.partner_exists(ctx.conn, cmd.partner_id):
        raise CommandRejectedError(f"no partner {cmd.partner_id}; register it first", "UNKNOWN_PARTNER")
    await storage.upsert_customer(ctx.conn, cmd)
    await ctx.emit("customer.registered", CustomerRegistered(**cmd.model_dump()), key=cmd.customer_id)


@handlers.on("subscription.purchase")
async def on_purchase(ctx: Context, cmd: Purchase) -> None:
    customer = await storage.customer(ctx.conn, cmd.customer_id)
    if customer is not None:
        _authorize(ctx, customer.partner_id)
    offer = await storage.offer(ctx.conn, cmd.catalog_item_id)
    price = None
    if customer is not None:
        rows = await storage.price_rows(ctx.conn, cmd.catalog_item_id, customer.market, customer.currency,
                                        cmd.term_duration, cmd.billing_cycle)
        row = select_row(rows, ctx.now.date(), cmd.quantity)
        price = row.unit_price if row else None
    subscription = rules.purchase(
        now=ctx.now,
        subscription_id=cmd.subscription_id or str(uuid5(NAMESPACE_URL, f"nce:subscription:{ctx.envelope.id}")),
        customer=customer,
        offer=offer,
        unit_price=price,
        term_duration=cmd.term_duration,
        billing_cycle=cmd.billing_cycle,
        quantity=cmd.quantity,
        auto_renew=cmd.auto_renew,
        eos=eos_state(await storage.eos_rules(ctx.conn, cmd.catalog_item_id), *cmd.catalog_item_id.split(":")[:2],
                      customer.market, cmd.term_duration, cmd.billing_cycle, ctx.now) if customer else None,
        promotion=best_promotion(
            await storage.promotions_for(ctx.conn, cmd.catalog_item_id), product_id=cmd.catalog_item_id.split(":")[0],
            sku_id=cmd.catalog_item_id.split(":")[1], term=cmd.term_duration, cycle=cmd.billing_cycle,
            market=customer.market, on=ctx.now.date(), quantity=cmd.quantity,
            redeemed=await storage.redeemed(ctx.conn, customer.customer_id), requested=cmd.promotion_id,
        ) if customer else None,
        custom_term_end=cmd.custom_term_end_date,
        others=await storage.term_ends(ctx.conn, cmd.customer_id) if cmd.custom_term_end_date else None,
    )
    room = await storage.pooled_room(ctx.conn, cmd.customer_id, cmd.catalog_item_id,
                                     offer.pooled_max_per_customer if offer else None)
    if room is not None and cmd.quantity > room:
        raise PooledSeatLimitError(
            f"The requested number of {cmd.quantity} seats exceeds the remaining limit of {room} seats")
    if offer is not None and offer.trial:
        trial.check_first_trial(await storage.trials_held(ctx.conn, cmd.customer_id, cmd.catalog_item_id))
    if not await storage.insert_subscription(ctx.conn, subscription, ctx.now):
        raise CommandRejectedError(f"subscription {subscription.subscription_id} exists", "SUBSCRIPTION_EXISTS")
    if offer is not None and offer.trial:
        await storage.mark_trial(ctx.conn, subscription.subscription_id, cmd.catalog_item_id)
    await storage.save_batches(ctx.conn, subscription.subscription_id, changes.opened(cmd.quantity, ctx.now))
    await ctx.emit("subscription.created", SubscriptionCreated(**asdict(subscription)), key=cmd.customer_id)


@handlers.on("scheduler.term_ended")
async def on_term_ended(ctx: Context, event: TermEnded) -> None:
    found = await storage.subscription_for_update(ctx.conn, event.subscription_id)
    if found is None or found[0].term_end != event.term_end:
        return  # a stale timer: the term already moved on
    sub, status = found
    eos = eos_state(await storage.eos_rules(ctx.conn, sub.catalog_item_id), *sub.catalog_item_id.split(":")[:2],
                    sub.market, sub.term_duration, sub.billing_cycle, event.instant)
    end_of_life = eos is not None and eos.state == "EndOfLife"  # §9.10: no renewal into EOL, even with auto-renew
    after = lifecycle.at_term_end(status, sub.auto_renew, end_of_life)
    if after == "expired":
        await _expire(ctx, sub, event.instant, "end_of_life" if end_of_life else "auto_renew_off")
        return
    if after == "disabled":
        await _disable(ctx, sub, event.instant, "suspended_at_term_end")
        return
    if after is not None:
        return  # already expired, disabled or deleted: nothing renews
    offer = await storage.offer(ctx.conn, sub.catalog_item_id)
    if offer is not None and offer.trial:
        await _convert_trial(ctx, sub, event.instant)
        return
    next_term = await storage.scheduled_change(ctx.conn, sub.subscription_id)
    if next_term is not None:
        target_eos = eos_state(await storage.eos_rules(ctx.conn, next_term.catalog_item_id),
                               *next_term.catalog_item_id.split(":")[:2], sub.market, next_term.term_duration,
                               next_term.billing_cycle, event.instant)
        if target_eos is not None and target_eos.state == "EndOfLife":  # §9.10: dropped, renewal goes on without it
            await _wipe(ctx, sub, "end_of_life", event.instant)
            next_term = None
    plan = next_term or sub
    rows = await storage.price_rows(ctx.conn, plan.catalog_item_id, sub.market, sub.currency, plan.term_duration,
                                    plan.billing_cycle)
    row = renewal_row(rows, event.instant.date(), plan.quantity)
    renewed = renew(sub, event.instant, row.unit_price if row else sub.unit_price, next_term,
                    await storage.promotion(ctx.conn, sub.promotion_id))
    await storage.save_term(ctx.conn, renewed)
    await storage.save_batches(ctx.conn, sub.subscription_id, changes.opened(renewed.quantity, event.instant))
    await ctx.emit("subscription.renewed", SubscriptionRenewed(**asdict(renewed), previous_term_end=sub.term_end),
                   key=sub.customer_id)


async def _locked(ctx: Context, subscription_id: str) -> tuple[Subscription, str]:
    """The subscription, locked for this transaction, once the actor is known to be allowed to act on it."""
    found = await storage.subscription_for_update(ctx.conn, subscription_id)
    if found is None:
        raise CommandRejectedError(f"no subscription {subscription_id}", "UNKNOWN_SUBSCRIPTION")
    _authorize(ctx, found[0].partner_id)
    return found


def _facts(sub: Subscription, now: datetime) -> dict[str, Any]:
    keep = SubscriptionFacts.model_fields.keys() - {"at"}
    return {**{k: v for k, v in asdict(sub).items() if k in keep}, "at": now}


@handlers.on("subscription.change_quantity")
async def on_change_quantity(ctx: Context, cmd: ChangeQuantity) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    offer = await storage.offer(ctx.conn, sub.catalog_item_id)
    limit = offer.pooled_max_per_customer if offer else None
    seats = changes.change_quantity(
        status=status, trial=bool(offer and offer.trial), quantity=sub.quantity,
        batches=await storage.batches(ctx.conn, sub.subscription_id), new_quantity=cmd.quantity, now=ctx.now,
        min_quantity=offer.min_quantity if offer else 1, max_quantity=offer.max_quantity if offer else cmd.quantity,
        pooled_room=await storage.pooled_room(ctx.conn, sub.customer_id, sub.catalog_item_id, limit),
    )
    await storage.save_batches(ctx.conn, sub.subscription_id, seats)
    await _wipe(ctx, sub, "quantity_changed", ctx.now)
    await ctx.emit("subscription.quantity_changed", QuantityChanged(
        **_facts(sub, ctx.now), quantity_before=sub.quantity, quantity_after=cmd.quantity), key=sub.customer_id)


@handlers.on("subscription.set_auto_renew")
async def on_set_auto_renew(ctx: Context, cmd: SetAutoRenew) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    changes.set_auto_renew(status)
    await storage.set_auto_renew(ctx.conn, sub.subscription_id, cmd.enabled)
    if not cmd.enabled:
        await _wipe(ctx, sub, "auto_renew_off", ctx.now)
    await ctx.emit("subscription.auto_renew_changed", AutoRenewChanged(**_facts(sub, ctx.now), enabled=cmd.enabled),
                   key=sub.customer_id)


@handlers.on("subscription.cancel")
async def on_cancel(ctx: Context, cmd: SubscriptionCommand) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    await storage.set_status(ctx.conn, sub.subscription_id, changes.cancel(status, sub.cancellation_allowed_until,
                                                                           ctx.now))
    await _wipe(ctx, sub, "cancelled", ctx.now)
    await ctx.emit("subscription.cancelled", SubscriptionCancelled(**_facts(sub, ctx.now), quantity=sub.quantity),
                   key=sub.customer_id)


@handlers.on("subscription.suspend")
async def on_suspend(ctx: Context, cmd: SubscriptionCommand) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    await storage.set_status(ctx.conn, sub.subscription_id, changes.suspend(status))
    await storage.set_auto_renew(ctx.conn, sub.subscription_id, False)  # §3.2: suspending turns auto-renew off
    await _wipe(ctx, sub, "suspended", ctx.now)
    await ctx.emit("subscription.suspended", SubscriptionSuspended(**_facts(sub, ctx.now)), key=sub.customer_id)


@handlers.on("subscription.reactivate")
async def on_reactivate(ctx: Context, cmd: SubscriptionCommand) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    new_status = changes.reactivate(status, start_of_day(sub.term_end + timedelta(days=1)), ctx.now)
    await storage.set_status(ctx.conn, sub.subscription_id, new_status)
    await ctx.emit("subscription.reactivated", SubscriptionReactivated(**_facts(sub, ctx.now)), key=sub.customer_id)


async def _wipe(ctx: Context, sub: Subscription, reason: str, at: datetime) -> None:
    """Delete a pending next-term change (§3.6: any mid-term change, cancel, auto-renew off, suspension wipes it)."""
    if await storage.scheduled_change(ctx.conn, sub.subscription_id) is None:
        return
    await storage.set_scheduled_change(ctx.conn, sub.subscription_id, None)
    await ctx.emit("subscription.scheduled_change_cancelled",
                   ScheduledChangeCancelled(**_facts(sub, at), reason=reason), key=sub.customer_id)


async def _schedule(ctx: Context, sub: Subscription, status: str, wanted: NextTerm, custom_term_end: bool) -> None:
    next_term = scheduled.schedule(
        sub=sub, status=status,
        upgrade_targets=await storage.upgrade_targets(ctx.conn, sub.catalog_item_id),
        target=await storage.offer(ctx.conn, wanted.catalog_item_id), wanted=wanted, custom_term_end=custom_term_end,
        eos=await _eos(ctx, wanted.catalog_item_id, sub.market, wanted.term_duration, wanted.billing_cycle),
    )
    await storage.set_scheduled_change(ctx.conn, sub.subscription_id, next_term)
    await ctx.emit("subscription.change_scheduled", ChangeScheduled(**_facts(sub, ctx.now),
                   scheduled_change=NextTermData(**asdict(next_term))), key=sub.customer_id)


async def _eos(ctx: Context, catalog_item_id: str, market: str, term: str, cycle: str) -> EosRule | None:
    product_id, sku_id, _ = catalog_item_id.split(":")
    return eos_state(await storage.eos_rules(ctx.conn, catalog_item_id), product_id, sku_id, market, term, cycle,
                     ctx.now)


@handlers.on("subscription.schedule_change")
async def on_schedule_change(ctx: Context, cmd: ScheduleChange) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    wanted = NextTerm(cmd.catalog_item_id or sub.catalog_item_id, cmd.term_duration or sub.term_duration,
                      cmd.billing_cycle or sub.billing_cycle, cmd.quantity or sub.quantity, ctx.now)
    await _schedule(ctx, sub, status, wanted, cmd.custom_term_end_date is not None)


@handlers.on("subscription.cancel_scheduled_change")
async def on_cancel_scheduled_change(ctx: Context, cmd: SubscriptionCommand) -> None:
    sub, _ = await _locked(ctx, cmd.subscription_id)
    if await storage.scheduled_change(ctx.conn, sub.subscription_id) is None:
        raise CommandRejectedError("the subscription has no scheduled change", "NO_SCHEDULED_CHANGE")
    await _wipe(ctx, sub, "requested", ctx.now)


@handlers.on("subscription.transition")
async def on_transition(ctx: Context, cmd: TransitionCommand) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    term, cycle = cmd.term_duration or sub.term_duration, cmd.billing_cycle or sub.billing_cycle
    wanted = NextTerm(cmd.target_catalog_item_id, term, cycle, cmd.quantity, ctx.now)
    if cmd.when == "at_renewal":
        if cmd.target_subscription_id:
            raise CommandRejectedError("only an immediate transition can go into an existing subscription")
        await _schedule(ctx, sub, status, wanted, custom_term_end=False)
        return
    offer = await storage.offer(ctx.conn, wanted.catalog_item_id)
    if offer is None or sub.market not in offer.markets:
        raise rules.UnknownOfferError(f"{wanted.catalog_item_id} is not sold in {sub.market}")
    if (term, cycle) not in offer.plans:
        raise rules.BillingCycleNotOfferedError(f"the offer has no {term} term billed {cycle}")
    existing = None
    if cmd.target_subscription_id:
        existing = await storage.subscription_for_update(ctx.conn, cmd.target_subscription_id)
        if existing is None or existing[0].customer_id != sub.customer_id:
            raise CommandRejectedError(f"no subscription {cmd.target_subscription_id} of this customer", "900258")
    rows = await storage.price_rows(ctx.conn, wanted.catalog_item_id, sub.market, sub.currency, term, cycle)
    row = select_row(rows, ctx.now.date(), cmd.quantity)
    if row is None and existing is None:
        raise rules.NoPriceError(f"no {sub.currency} price for {wanted.catalog_item_id} in {sub.market} now")
    moved = transition(
        sub=sub, status=status, upgrade_targets=await storage.upgrade_targets(ctx.conn, sub.catalog_item_id),
        target_item=wanted.catalog_item_id, term=term, cycle=cycle, quantity=cmd.quantity, now=ctx.now,
        eos=await _eos(ctx, wanted.catalog_item_id, sub.market, term, cycle),
        unit_price=row.unit_price if row else sub.unit_price,
        child_id=str(uuid5(NAMESPACE_URL, f"nce:subscription:{ctx.envelope.id}")), existing=existing,
    )
    await _wipe(ctx, sub, "transitioned", ctx.now)
    source_seats = await storage.batches(ctx.conn, sub.subscription_id)
    if moved.kind == "full":
        await storage.save_term(ctx.conn, moved.source)
    else:
        await storage.save_batches(ctx.conn, sub.subscription_id, changes.take_seats(source_seats, moved.moved))
        if moved.source.quantity == 0:
            await storage.set_status(ctx.conn, sub.subscription_id, "deleted")
    if moved.kind == "partial":
        await storage.insert_subscription(ctx.conn, moved.target, ctx.now, parent=sub.subscription_id)
        await storage.save_batches(ctx.conn, moved.target.subscription_id,
                                   [changes.Batch(moved.moved, sub.cancellation_allowed_until)])  # inherited window
    elif moved.kind == "existing":
        target_seats = await storage.batches(ctx.conn, moved.target.subscription_id)
        await storage.save_batches(ctx.conn, moved.target.subscription_id,
                                   [*target_seats, changes.Batch(moved.moved, ctx.now)])
    await ctx.emit("subscription.transitioned", Transitioned(
        **_facts(moved.source, ctx.now), kind=moved.kind, quantity_before=sub.quantity,
        quantity_after=moved.source.quantity, moved=moved.moved,
        target=_terms(moved.target),
        target_quantity_after=moved.target.quantity), key=sub.customer_id)


def _terms(sub: Subscription) -> SubscriptionTerms:
    return SubscriptionTerms(**{k: v for k, v in asdict(sub).items() if k in SubscriptionTerms.model_fields})


@handlers.on("subscription.change_term")
async def on_change_term(ctx: Context, cmd: ChangeTerm) -> None:
    sub, status = await _locked(ctx, cmd.subscription_id)
    offer = await storage.offer(ctx.conn, sub.catalog_item_id)
    rows = await storage.price_rows(ctx.conn, sub.catalog_item_id, sub.market, sub.currency, cmd.term_duration,
                                    cmd.billing_cycle)
    row = select_row(rows, ctx.now.date(), sub.quantity)
    changed = change_term(
        sub=sub, status=status, trial=bool(offer and offer.trial), term=cmd.term_duration, cycle=cmd.billing_cycle,
        plans=offer.plans if offer else frozenset(),
        eos=await _eos(ctx, sub.catalog_item_id, sub.market, cmd.term_duration, cmd.billing_cycle),
        unit_price=row.unit_price if row else sub.unit_price, now=ctx.now,
    )
    if row is None:
        raise rules.NoPriceError(f"no {sub.currency} price for the {cmd.term_duration} {cmd.billing_cycle} plan now")
    await _wipe(ctx, sub, "term_changed", ctx.now)
    await storage.save_term(ctx.conn, changed)
    await storage.save_batches(ctx.conn, sub.subscription_id, changes.opened(sub.quantity, ctx.now))
    await ctx.emit("subscription.term_changed", TermChanged(**_facts(changed, ctx.now), quantity=sub.quantity,
                                                            previous=_terms(sub)), key=sub.customer_id)


async def _disable(ctx: Context, sub: Subscription, at: datetime, reason: str) -> None:
    await storage.set_status(ctx.conn, sub.subscription_id, "disabled")
    step = lifecycle.next_step("disabled", at, suspended_at_term_end=reason == "suspended_at_term_end")
    assert step is not None
    await ctx.emit("subscription.disabled", SubscriptionDisabled(
        subscription_id=sub.subscription_id, partner_id=sub.partner_id, customer_id=sub.customer_id, reason=reason,
        at=at, next_step_at=step[1]), key=sub.customer_id)


@handlers.on("scheduler.lifecycle_step_due")
async def on_lifecycle_step_due(ctx: Context, event: LifecycleStepDue) -> None:
    found = await storage.subscription_for_update(ctx.conn, event.subscription_id)
    if found is None:
        return
    sub, status = found
    if event.step == "disabled" and status == "expired":
        await _disable(ctx, sub, event.instant, "expired")
    elif event.step == "deleted" and status == "disabled":
        await storage.set_status(ctx.conn, sub.subscription_id, "deleted")
        await ctx.emit("subscription.deleted", SubscriptionDeleted(
            subscription_id=sub.subscription_id, partner_id=sub.partner_id, customer_id=sub.customer_id,
            at=event.instant), key=sub.customer_id)


async def _expire(ctx: Context, sub: Subscription, at: datetime, reason: str) -> None:
    await storage.set_status(ctx.conn, sub.subscription_id, "expired")
    step = lifecycle.next_step("expired", at)
    await ctx.emit("subscription.expired", SubscriptionExpired(
        subscription_id=sub.subscription_id, partner_id=sub.partner_id, customer_id=sub.customer_id,
        term_end=sub.term_end, reason=reason, next_step_at=step[1] if step else None), key=sub.customer_id)


async def _convert_trial(ctx: Context, sub: Subscription, instant: datetime) -> None:
    """At the end of a trial with auto-renew on: the paid equivalent, P1Y monthly, same seats (§3.8)."""
    paid = await storage.paid_equivalent(ctx.conn, sub.catalog_item_id, sub.market)
    term, cycle = trial.CONVERSION_PLAN
    price = None
    if paid is not None:
        row = renewal_row(await storage.price_rows(ctx.conn, paid, sub.market, sub.currency, term, cycle),
                          instant.date(), sub.quantity)
        price = row.unit_price if row else None
    converted = trial.convert_at_end(sub, paid, await _eos(ctx, paid, sub.market, term, cycle) if paid else None,
                                     price, instant)
    if converted is None:
        await _expire(ctx, sub, instant, "trial_not_convertible")
        return
    await storage.save_term(ctx.conn, converted)
    await storage.save_batches(ctx.conn, sub.subscription_id, changes.opened(converted.quantity, instant))
    await ctx.emit("subscription.trial_converted", TrialConverted(**_facts(converted, instant), quantity=sub.quantity,
                                                                  trial=_terms(sub)), key=sub.customer_id)

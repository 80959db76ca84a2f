"""Billing's inbound messages: subscription events become charge lines, month ends become invoices."""
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from shared.contracts.billing import ChargeCreated, InvoiceIssued
from shared.contracts.pricing import FxRatesPublished
from shared.contracts.scheduler import ChargeCycleStarted, MonthEnded
from shared.contracts.subscription import (
    AutoRenewChanged,
    QuantityChanged,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionDeleted,
    SubscriptionDisabled,
    SubscriptionExpired,
    SubscriptionReactivated,
    SubscriptionRenewed,
    SubscriptionSuspended,
    SubscriptionTerms,
    TermChanged,
    TermsRenewed,
    Transitioned,
    TrialConverted,
)
from shared.messaging.handlers import Context, Handlers

from services.billing import storage
from services.billing.domain.charges import Line, charge, charges, quantity_change, switch

handlers = Handlers("billing")
_ANNOUNCED = frozenset(ChargeCreated.model_fields) - {"invoice_month"}  # a stored line's fields its event carries


def _plan_values(terms: SubscriptionTerms, quantity: int, anchor: date | None = None,
                 auto_renew: bool = True, since: date | None = None) -> dict[str, Any]:
    """A plan from the terms an event carries; `since`: the day its offer and price took effect, when not the
    term's start (a full upgrade's day)."""
    values = terms.model_dump()
    effective = terms.effective_unit_price if terms.effective_unit_price is not None else terms.unit_price
    return {**values, "effective_unit_price": effective, "anchor": anchor or terms.anchor or terms.term_start,
            "quantity": quantity, "status": "active", "auto_renew": auto_renew,
            "billing_currency": terms.billing_currency or terms.currency, "since": since or terms.term_start}


async def _bill(ctx: Context, lines: list[tuple[dict[str, Any], Line]], order_date: date, tag: str,
                saving_plan: bool = False, first: list[storage.Entry] | None = None) -> None:
    """Store each line for its subscription (ids derived from the inbound message: a redelivery adds nothing) and
    announce them. Lines written together (wipe and recreate, a refund and its charge) share one reference id.
    `saving_plan`: each line's subscription is saved as its plan too, in the same round trip. `first`: entries
    stored before them (a cycle's charge, see _due_cycle)."""
    await _store(ctx, [*(first or []), *_entries(ctx, lines, order_date, tag)], saving_plan)


async def _cycle_lines(ctx: Context, sub: dict[str, Any], start: date) -> list[Line]:
    """The charge of the plan's cycle starting on `start` (`cycleCharge`), unless that cycle is not the scheduler's
    to charge (it began on or before the day the plan took effect: the purchase, renewal, upgrade or term change
    charged it) or is charged already. The plan is locked, so whichever of the cycle's event and a change on it is
    handled first charges it, once."""
    if start <= sub["since"] or await storage.cycle_charged(ctx.conn, sub["subscription_id"], start):
        return []
    plan = await storage.priced(ctx.conn, sub, start)
    return charges(plan, "cycleCharge", start, sub["quantity"], sub["full_price_seats"])


async def _due_cycle(ctx: Context, sub: dict[str, Any], day: date,
                     stored_as: dict[str, Any] | None = None) -> list[storage.Entry]:
    """A change on `day` bills the rest of the cycle holding it. The scheduler's event for that cycle travels
    another topic and may not have been handled yet (a change at 00:00:30 on the cycle's first day, the scheduler
    behind, or its timer cleared by the change): the cycle's charge, for the seats it began with, comes first then.
    `stored_as`: the plan stored with its lines, when not `sub`."""
    start, _, _ = storage.as_plan(sub).cycle(day)
    lines = await _cycle_lines(ctx, sub, start)
    return _entries(ctx, [(stored_as or sub, line) for line in lines], start, f"cycle:{sub['subscription_id']}")


def _entries(ctx: Context, lines: list[tuple[dict[str, Any], Line]], order_date: date,
             tag: str) -> list[storage.Entry]:
    reference = str(uuid5(NAMESPACE_URL, f"nce:charge:{ctx.envelope.id}:{tag}"))
    return [(reference if len(lines) == 1 else str(uuid5(NAMESPACE_URL, f"{reference}:{i}")), line, sub, reference,
             order_date) for i, (sub, line) in enumerate(lines)]


async def _store(ctx: Context, entries: list[storage.Entry], saving_plan: bool = False) -> None:
    """Store the lines in one round trip (`saving_plan`: each line's subscription as its plan too) and announce each
    one stored (a redelivered message's are there already)."""
    stored_lines = await storage.insert_lines(ctx.conn, entries, now=ctx.now, saving_plan=saving_plan)
    for stored, (_, _, sub, _, _) in zip(stored_lines, entries, strict=True):
        if stored is not None:
            await ctx.emit("billing.charge_created", ChargeCreated(
                **{k: v for k, v in stored.items() if k in _ANNOUNCED},
                invoice_month=f"{stored['invoice_month']:%Y-%m}"), key=sub["customer_id"])


async def _open(ctx: Context, opened: list[tuple[SubscriptionTerms, int, bool]], charge_type: str) -> None:
    """Terms (or plans) that start now, each with its quantity and auto-renew: each remembered as its subscription's
    plan and its first cycle charged from its start, in one round trip (an FX rate read once per currency pair and
    month)."""
    rates: dict[tuple[str, str, date], Decimal] = {}
    entries: list[storage.Entry] = []
    for terms, quantity, auto_renew in opened:
        values = _plan_values(terms, quantity, auto_renew=auto_renew)
        pair = (values["currency"], values["billing_currency"], terms.term_start.replace(day=1))
        if pair not in rates:
            rates[pair] = await storage.fx_rate(ctx.conn, *pair)
        lines = charges(storage.as_plan(values, rates[pair]), charge_type, terms.term_start, quantity,
                        terms.full_price_seats)  # a renewal's seats past its promotion's maximum: a line of their own
        entries += _entries(ctx, [(values, line) for line in lines], terms.term_start, terms.subscription_id)
    await _store(ctx, entries, saving_plan=True)


@handlers.on("subscription.created")
async def on_created(ctx: Context, event: SubscriptionCreated) -> None:
    await _open(ctx, [(event, event.quantity, event.auto_renew)], "new")


@handlers.on("subscription.terms_renewed")
async def on_terms_renewed(ctx: Context, event: TermsRenewed) -> None:
    """A customer's renewals of one instant: each new term's first cycle charged (`renew`), in one transaction."""
    await _open(ctx, [(renewed, renewed.quantity, renewed.auto_renew) for renewed in event.renewals], "renew")


@handlers.on("subscription.renewed")
async def on_renewed(ctx: Context, event: SubscriptionRenewed) -> None:
    """One renewal (what the subscription service announced before it grouped them): still handled."""
    await _open(ctx, [(event, event.quantity, event.auto_renew)], "renew")


@handlers.on("scheduler.charge_cycle_started")
async def on_cycle_started(ctx: Context, event: ChargeCycleStarted) -> None:
    sub = await storage.plan(ctx.conn, event.subscription_id)
    if sub is None or sub["term_end"] != event.term_end or sub["status"] not in ("active", "suspended"):
        return  # a stale timer: the term moved on or the subscription ended (suspended ones keep paying, §3.2)
    lines = await _cycle_lines(ctx, sub, event.cycle_start)
    await _bill(ctx, [(sub, line) for line in lines], event.cycle_start, "cycle")


@handlers.on("subscription.quantity_changed")
async def on_quantity_changed(ctx: Context, event: QuantityChanged) -> None:
    sub = await storage.plan(ctx.conn, event.subscription_id)
    if sub is None:
        return
    day = event.at.date()
    lines = quantity_change(await storage.priced(ctx.conn, sub, day), day, event.quantity_before, event.quantity_after,
                            event.full_price_seats_before, event.full_price_seats)
    changed = {**sub, "quantity": event.quantity_after, "full_price_seats": event.full_price_seats}
    await _bill(ctx, [(changed, line) for line in lines], day, "quantity", saving_plan=True,
                first=await _due_cycle(ctx, sub, day, stored_as=changed))


@handlers.on("subscription.cancelled")
async def on_cancelled(ctx: Context, event: SubscriptionCancelled) -> None:
    sub = await storage.plan(ctx.conn, event.subscription_id)
    if sub is None:
        return
    day = event.at.date()
    refunds = charges(await storage.priced(ctx.conn, sub, day), "cancelImmediate", day, event.quantity,
                      event.full_price_seats, -1)
    deleted = {**sub, "status": "deleted"}
    await _bill(ctx, [(deleted, refund) for refund in refunds], day, "cancel", saving_plan=True,
                first=await _due_cycle(ctx, sub, day, stored_as=deleted))


@handlers.on("subscription.transitioned")
async def on_transitioned(ctx: Context, event: Transitioned) -> None:
    """The moved seats leave the old plan on the event's day, refunded to the end of its cycle, and join the new one,
    charged to the end of its cycle, under one reference (S12's upgrade examples): `convert` into a new or the same
    subscription, `moveQuantity` into an existing one."""
    sub = await storage.plan(ctx.conn, event.subscription_id)
    if sub is None:
        return
    day = event.at.date()
    kind = "moveQuantity" if event.kind == "existing" else "convert"
    due = await _due_cycle(ctx, sub, day)
    left = {**sub, "quantity": event.quantity_after, "full_price_seats": event.full_price_seats}
    if event.kind == "full":  # same subscription, new offer, same anchor
        target = _plan_values(event.target, event.target_quantity_after, sub["anchor"], sub["auto_renew"], since=day)
    elif event.kind == "partial":  # a coterminous child sharing its parent's cycles
        await storage.save_plan(ctx.conn, left)
        target = _plan_values(event.target, event.moved, sub["anchor"], sub["auto_renew"])
    else:  # a source left with no seat is deleted (the subscription service says so): no cycle of it is charged
        await storage.save_plan(ctx.conn, {**left, "status": sub["status"] if event.quantity_after else "deleted"})
        found = await storage.plan(ctx.conn, event.target.subscription_id)
        if found is None:
            return
        due += await _due_cycle(ctx, found, day)
        target = {**found, "quantity": event.target_quantity_after,
                  "full_price_seats": event.target.full_price_seats}
    await storage.save_plan(ctx.conn, target)
    left_full = sub["full_price_seats"] - event.full_price_seats  # the full-price seats that left (§2.5) ...
    joined_full = event.target.full_price_seats - (found["full_price_seats"] if event.kind == "existing" else 0)
    refunds, added = switch(await storage.priced(ctx.conn, sub, day), await storage.priced(ctx.conn, target, day),
                            event.moved, day, kind, left_full, joined_full)  # ... and that joined
    await _bill(ctx, [*((sub, line) for line in refunds), *((target, line) for line in added)], day, "transition",
                first=due)


@handlers.on("subscription.term_changed")
async def on_term_changed(ctx: Context, event: TermChanged) -> None:
    """§9.6: the unused days of the current cycle credited, the new term charged from today (changeBillingPlan)."""
    sub = await storage.plan(ctx.conn, event.subscription_id)
    if sub is None:
        return
    day = event.at.date()
    due = await _due_cycle(ctx, sub, day)
    values = _plan_values(event, event.quantity, auto_renew=sub["auto_renew"])
    await storage.save_plan(ctx.conn, values)
    refunds, added = switch(await storage.priced(ctx.conn, sub, day), await storage.priced(ctx.conn, values, day),
                            event.quantity, day, "changeBillingPlan", event.previous.full_price_seats)
    await _bill(ctx, [*((sub, line) for line in refunds), *((values, line) for line in added)], day, "term",
                first=due)


@handlers.on("subscription.trial_converted")
async def on_trial_converted(ctx: Context, event: TrialConverted) -> None:
    """The paid seats charged (`convert`): a paid term of the trial's own from its start, or seats added to an
    existing subscription from today. A conversion before the trial's end also closes the free trial's rest with a
    zero `convert` line under the same reference (S12's trial example)."""
    trial_id = event.trial.subscription_id
    trial = await storage.plan(ctx.conn, trial_id)
    due: list[storage.Entry] = []
    if event.subscription_id == trial_id:
        day, paid, added, full = event.term_start, _plan_values(event, event.quantity), event.quantity, 0
    else:  # the converted seats pay the target's price without its promotion (§3.8)
        found = await storage.plan(ctx.conn, event.subscription_id)
        if found is None:
            return
        day, added = event.at.date(), event.quantity - found["quantity"]
        due = await _due_cycle(ctx, found, day)
        paid = {**found, "quantity": event.quantity, "full_price_seats": event.full_price_seats}
        full = event.full_price_seats - found["full_price_seats"]
        if trial is not None:
            await storage.save_plan(ctx.conn, {**trial, "status": "converted"})
    await storage.save_plan(ctx.conn, paid)
    lines = [(paid, line) for line in charges(await storage.priced(ctx.conn, paid, day), "convert", day, added, full)]
    if trial is not None and day <= trial["term_end"]:
        free = charge(await storage.priced(ctx.conn, trial, day), "convert", day, trial["quantity"], -1)
        lines.insert(0, (trial, free))
    await _bill(ctx, lines, day, "trial", first=due)


async def _update(ctx: Context, subscription_id: str, **changes: Any) -> None:
    await storage.update_plan(ctx.conn, subscription_id, changes)


@handlers.on("subscription.auto_renew_changed")
async def on_auto_renew_changed(ctx: Context, event: AutoRenewChanged) -> None:
    await _update(ctx, event.subscription_id, auto_renew=event.enabled)


@handlers.on("subscription.suspended")
async def on_suspended(ctx: Context, event: SubscriptionSuspended) -> None:
    await _update(ctx, event.subscription_id, status="suspended", auto_renew=False)  # §3.2: billing continues


@handlers.on("subscription.reactivated")
async def on_reactivated(ctx: Context, event: SubscriptionReactivated) -> None:
    await _update(ctx, event.subscription_id, status="active")


@handlers.on("subscription.expired")
async def on_expired(ctx: Context, event: SubscriptionExpired) -> None:
    await _update(ctx, event.subscription_id, status="expired")


@handlers.on("subscription.disabled")
async def on_disabled(ctx: Context, event: SubscriptionDisabled) -> None:
    await _update(ctx, event.subscription_id, status="disabled")


@handlers.on("subscription.deleted")
async def on_deleted(ctx: Context, event: SubscriptionDeleted) -> None:
    await _update(ctx, event.subscription_id, status="deleted")


@handlers.on("pricing.fx_rates_published")
async def on_fx_rates_published(ctx: Context, event: FxRatesPublished) -> None:
    await storage.save_fx_rates(ctx.conn, [(r.from_currency, r.to_currency, date.fromisoformat(f"{r.month}-01"),
                                            r.rate) for r in event.rates])


@handlers.on("scheduler.month_ended")
async def on_month_ended(ctx: Context, event: MonthEnded) -> None:
    month = date.fromisoformat(f"{event.month}-01")
    for invoice in await storage.close_month(ctx.conn, month, ctx.now):
        await ctx.emit("billing.invoice_issued", InvoiceIssued(
            invoice_number=invoice["invoice_number"], partner_id=invoice["partner_id"], month=event.month,
            totals=invoice["totals"], lines=invoice["lines"]), key=invoice["partner_id"])

"""What time does: renewal, expiry, trial conversion and the lifecycle after the term."""
from datetime import date, datetime

from services.subscription import storage
from services.subscription.domain import changes, lifecycle
from services.subscription.domain.purchase import Subscription
from services.subscription.domain.renewal import renew, taken, with_taken
from services.subscription.handlers.trials import _convert_trial
from services.subscription.handlers.common import (
    _disable,
    _eos,
    _eos_in,
    _expire,
    _wipe,
    handlers,
)
from shared.contracts.scheduler import LifecycleStepDue, TermEnd, TermEnded, TermsEnded
from shared.contracts.subscription import (
    SubscriptionDeleted,
    SubscriptionRenewed,
    TermsRenewed,
)
from shared.messaging.handlers import Context
from shared.rules.prices import Redeemed, next_term_row, renewal_row


@handlers.on("scheduler.terms_ended")
async def on_terms_ended(ctx: Context, event: TermsEnded) -> None:
    """A customer's terms that ended at one instant, each renewed (or ended) as alone, in one transaction; the
    renewals announced together (`subscription.terms_renewed`). They are read in one statement and their new terms
    saved in one round trip, unless one is a trial: its conversion may change another subscription of the customer,
    so then each is read, decided and saved in turn."""
    ended = [TermEnded(subscription_id=t.subscription_id, customer_id=event.customer_id, term_end=t.term_end,
                       instant=event.instant) for t in event.terms]
    renewal = event.instant.date()
    read = await storage.at_term_ends(ctx.conn, [e.subscription_id for e in ended], renewal)
    ahead = None if any(f.trial for f in read.values()) else read
    renewals: list[tuple[Subscription, date]] = []
    used: dict[str, Redeemed] = {}  # promotions the group's renewals took so far, which the reads before did not see
    for e in ended:
        found = ahead.get(e.subscription_id) if ahead is not None else \
            await storage.at_term_end(ctx.conn, e.subscription_id, renewal)
        if (renewed := await _term_ended(ctx, e, found, used)) is not None:
            assert found is not None
            if ahead is not None and (took := taken(found.sub, renewed[0])) is not None:  # read before, saved after
                used = with_taken(used, dict([took]))
            if ahead is None:
                await _save(ctx, [renewed], _completed(ctx, event.instant))
            renewals.append(renewed)
    if ahead is not None:
        await _save(ctx, renewals, _completed(ctx, event.instant))
    await _announce(ctx, event.customer_id, event.instant, renewals)


@handlers.on("scheduler.term_ended")
async def on_term_ended(ctx: Context, event: TermEnded) -> None:
    """One term (what the scheduler fired before it grouped term ends): still handled, for those in flight, as a
    group of one."""
    await on_terms_ended(ctx, TermsEnded(customer_id=event.customer_id, instant=event.instant, terms=[
        TermEnd(subscription_id=event.subscription_id, term_end=event.term_end)]))


def _completed(ctx: Context, instant: datetime) -> datetime:
    """When a term end's renewal or conversion completes, which its new 7-day window starts from (§3.5): now, as this
    service stamped the event, never before the instant the term ended (a scheduler's clock a little ahead)."""
    return max(instant, ctx.now)


async def _save(ctx: Context, renewals: list[tuple[Subscription, date]], at: datetime) -> None:
    await storage.save_terms(ctx.conn, [(sub, changes.opened(sub.quantity, at, full_price=sub.full_price_seats))
                                        for sub, _ in renewals])


async def _announce(ctx: Context, customer_id: str, instant: datetime,
                    renewals: list[tuple[Subscription, date]]) -> None:
    if renewals:  # vars, not asdict: the fields are flat values, which asdict would deep-copy one by one
        renewed = [SubscriptionRenewed(**vars(sub), previous_term_end=previous) for sub, previous in renewals]
        await ctx.emit("subscription.terms_renewed",
                       TermsRenewed(customer_id=customer_id, instant=instant, renewals=renewed), key=customer_id)


async def _term_ended(ctx: Context, event: TermEnded, found: storage.AtTermEnd | None,
                      used: dict[str, Redeemed]) -> tuple[Subscription, date] | None:
    """End the term: expire, disable or convert it, or renew it. A renewal is returned (the new term, not saved yet,
    and the term end it follows) for the caller to save and announce."""
    renewal = event.instant.date()
    if found is None or found.sub.term_end != event.term_end:
        return None  # a stale timer: the term already moved on
    sub = found.sub
    if found.kind == "perpetual":
        return None  # §1.5, row 17: perpetual software has no renewal, nothing ends; End of Sale has no effect on it
    next_term, rows, promos, redeemed = found.next_term, found.price_rows, found.promotions, found.redeemed
    if next_term is not None and found.status == "active" and sub.auto_renew and not found.trial:
        target_eos = await _eos(ctx, next_term.catalog_item_id, sub.market, next_term.term_duration,
                                next_term.billing_cycle, event.instant)
        target_rows = await storage.price_rows(ctx.conn, next_term.catalog_item_id, sub.market, sub.currency,
                                               next_term.term_duration, next_term.billing_cycle)
        if target_eos is not None and target_eos.state == "EndOfLife":  # §9.10: dropped, renewal goes on without it
            await _wipe(ctx, sub, next_term, "end_of_life", event.instant)
            next_term = None
        elif next_term_row(target_rows, renewal, next_term.quantity,  # §2.4: no price derived from another plan's
                           next_term.catalog_item_id == sub.catalog_item_id) is None:
            await _wipe(ctx, sub, next_term, "no_price", event.instant)  # renewal goes on without the change
            next_term = None
        elif (room := await storage.pooled_room(ctx.conn, sub.customer_id, next_term.catalog_item_id,
                                                sub.subscription_id)) is not None and next_term.quantity > room:
            await _wipe(ctx, sub, next_term, "pooled_limit", event.instant)  # §1.7: the customer's other
            next_term = None  # subscriptions took the room since it was scheduled; renewal goes on without it
        else:
            rows = target_rows
            if (next_term.catalog_item_id.rsplit(":", 1)[0], next_term.term_duration, next_term.billing_cycle) != (
                    sub.catalog_item_id.rsplit(":", 1)[0], sub.term_duration, sub.billing_cycle):  # another plan's
                promos, redeemed = await storage.promotions(ctx.conn, sub.customer_id, next_term.catalog_item_id,
                                                            sub.subscription_id)
    eos = _eos_in(found.eos_rules, sub.catalog_item_id, sub.market, sub.term_duration, sub.billing_cycle,
                  event.instant)
    # §9.10: no renewal of an EndOfLife plan, even with auto-renew; but a change scheduled out of it into a plan that
    # is not (§5.2 row 15) renews into that plan, and a trial converts into its paid plan, judged by that plan's
    end_of_life = eos is not None and eos.state == "EndOfLife" and next_term is None and not found.trial
    after = lifecycle.at_term_end(found.status, sub.auto_renew, end_of_life)
    if after == "expired":
        await _expire(ctx, sub, event.instant, "end_of_life" if end_of_life else "auto_renew_off")
        return None
    if after == "disabled":
        await _disable(ctx, sub, event.instant, "suspended_at_term_end")
        return None
    if after is not None:
        return None  # already expired, disabled or deleted: nothing renews
    if found.trial:
        await _convert_trial(ctx, sub, event.instant, _completed(ctx, event.instant))
        return None
    row = renewal_row(rows, renewal, (next_term or sub).quantity)
    renewed = renew(sub, _completed(ctx, event.instant), row.unit_price if row else sub.unit_price, next_term,
                    found.promotion, promos, with_taken(redeemed, used))
    return renewed, sub.term_end


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

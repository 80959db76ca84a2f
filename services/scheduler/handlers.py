"""What the scheduler learns to time from other services' events."""
from datetime import date, datetime

from shared.contracts.catalog import EosChanged
from shared.contracts.scheduler import ChargeCycleStarted, EosDateReached, LifecycleStepDue, TermEnded
from shared.contracts.subscription import (
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionDisabled,
    SubscriptionExpired,
    SubscriptionRenewed,
    SubscriptionTerms,
    TermChanged,
    TermsRenewed,
    Transitioned,
    TrialConverted,
)
from shared.dates import cycle_months, cycle_starts, start_of_day
from shared.messaging.handlers import Context, Handlers

from services.scheduler import storage
from services.scheduler.domain.timers import eos_key, term_end_instant

handlers = Handlers("scheduler")


async def _time_term_end(ctx: Context, event: SubscriptionTerms, after: date | None = None) -> None:
    await storage.time_terms(ctx.conn, [_term_timers(event, after)], ctx.now)


def _term_timers(event: SubscriptionTerms, after: date | None = None) -> storage.TermTimers:
    """The term's end and its charge cycles' starts (§4.2: anchored to the subscription's anchor, default the term's
    start); `after`: only the cycles starting after that day (a change mid-term: those before it were charged, or
    were another plan's). Month ends need nothing from a term: one is always armed, and firing it arms the next
    (storage.month_end)."""
    instant = term_end_instant(event.term_end)
    ended = TermEnded(subscription_id=event.subscription_id, customer_id=event.customer_id,
                      term_end=event.term_end, instant=instant)
    starts = cycle_starts(event.anchor or event.term_start, event.term_end,
                          cycle_months(event.term_duration, event.billing_cycle))
    timers: list[storage.Timer] = [("term_end", event.subscription_id, instant, event.customer_id, ended,
                                    "scheduler.term_ended")]
    for start in starts:
        if after is not None and start <= after:
            continue
        started = ChargeCycleStarted(subscription_id=event.subscription_id, customer_id=event.customer_id,
                                     cycle_start=start, term_end=event.term_end, instant=start_of_day(start))
        timers.append(("cycle", f"{event.subscription_id}@{start}", started.instant, event.customer_id, started,
                       "scheduler.charge_cycle_started"))
    return event.subscription_id, timers


@handlers.on("subscription.created")
async def on_subscription_created(ctx: Context, event: SubscriptionCreated) -> None:
    await _time_term_end(ctx, event)


@handlers.on("subscription.terms_renewed")
async def on_terms_renewed(ctx: Context, event: TermsRenewed) -> None:
    """Each renewal moved its term end: all timed in one round trip."""
    await storage.time_terms(ctx.conn, [_term_timers(renewed) for renewed in event.renewals], ctx.now)


@handlers.on("subscription.renewed")
async def on_subscription_renewed(ctx: Context, event: SubscriptionRenewed) -> None:
    """One renewal (announced before renewals were grouped): still handled."""
    await _time_term_end(ctx, event)


@handlers.on("subscription.transitioned")
async def on_subscription_transitioned(ctx: Context, event: Transitioned) -> None:
    # A new coterminous child (partial: its term ends with its parent's, its cycles are its parent's) or the upgraded
    # subscription itself (full: it may bill on another cycle now), from the cycles after today on.
    if event.kind in ("partial", "full"):
        await _time_term_end(ctx, event.target, after=event.at.date())
    elif event.quantity_after == 0:  # every seat moved into an existing subscription: the source is deleted
        await storage.cancel_term(ctx.conn, event.subscription_id)


@handlers.on("subscription.trial_converted")
async def on_trial_converted(ctx: Context, event: TrialConverted) -> None:
    await _time_term_end(ctx, event, after=event.at.date())  # the paid term's end (into an existing one: its own)


@handlers.on("subscription.term_changed")
async def on_subscription_term_changed(ctx: Context, event: TermChanged) -> None:
    await _time_term_end(ctx, event)  # a longer term from today: its end moved


@handlers.on("subscription.expired")
async def on_subscription_expired(ctx: Context, event: SubscriptionExpired) -> None:
    await storage.cancel_term(ctx.conn, event.subscription_id)
    if event.next_step_at is not None:
        await _time_lifecycle(ctx, event.subscription_id, event.customer_id, "disabled", event.next_step_at)


@handlers.on("subscription.disabled")
async def on_subscription_disabled(ctx: Context, event: SubscriptionDisabled) -> None:
    await _time_lifecycle(ctx, event.subscription_id, event.customer_id, "deleted", event.next_step_at)


async def _time_lifecycle(ctx: Context, subscription_id: str, customer_id: str, step: str, due: datetime) -> None:
    due_event = LifecycleStepDue(subscription_id=subscription_id, customer_id=customer_id, step=step, instant=due)
    await storage.set_timer(ctx.conn, "lifecycle", subscription_id, due, customer_id, due_event,
                            "scheduler.lifecycle_step_due", ctx.now)


@handlers.on("subscription.cancelled")
async def on_subscription_cancelled(ctx: Context, event: SubscriptionCancelled) -> None:
    await storage.cancel_term(ctx.conn, event.subscription_id)


@handlers.on("catalog.eos_changed")
async def on_eos_changed(ctx: Context, event: EosChanged) -> None:
    scope = (event.product_id, event.sku_id, event.market, event.term_duration, event.billing_cycle)
    key = eos_key(*scope, event.state)
    if event.state == "Active":  # back on sale: what was announced for the scope is withdrawn, its End of Life too
        await storage.cancel_timer(ctx.conn, "eos", key)
        await storage.cancel_timer(ctx.conn, "eos", eos_key(*scope, "EndOfLife"))
        return
    instant = start_of_day(event.effective_date)
    reached = EosDateReached(**event.model_dump(exclude={"source"}), instant=instant)
    await storage.set_timer(ctx.conn, "eos", key, instant, f"eos:{key}", reached, "scheduler.eos_date_reached",
                            ctx.now)

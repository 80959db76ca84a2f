"""What the scheduler learns to time from other services' events."""
from shared.contracts.subscription import SubscriptionCreated
from shared.messaging.handlers import Context, Handlers

from services.scheduler import storage
from services.scheduler.domain.timers import term_end_instant

handlers = Handlers("scheduler")


@handlers.on("subscription.created")
async def on_subscription_created(ctx: Context, event: SubscriptionCreated) -> None:
    await storage.set_timer(
        ctx.conn,
        kind="term_end",
        key=event.subscription_id,
        due_at=term_end_instant(event.term_end),
        partition_key=event.customer_id,
        payload={"subscription_id": event.subscription_id, "customer_id": event.customer_id,
                 "term_end": event.term_end.isoformat()},
        now=ctx.now,
    )

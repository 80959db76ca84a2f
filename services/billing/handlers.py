"""Billing's inbound messages."""
from uuid import NAMESPACE_URL, uuid5

from shared.contracts.billing import ChargeCreated
from shared.contracts.subscription import SubscriptionCreated
from shared.messaging.handlers import Context, Handlers

from services.billing import storage
from services.billing.domain.charges import cycle_unit_price, first_cycle, prorated_charge

handlers = Handlers("billing")


@handlers.on("subscription.created")
async def on_subscription_created(ctx: Context, event: SubscriptionCreated) -> None:
    cycle = first_cycle(event.term_start, event.billing_cycle)
    price = cycle_unit_price(event.unit_price, event.term_duration, event.billing_cycle)
    charge = prorated_charge("new", price, cycle, event.term_start, event.quantity)
    line_id = str(uuid5(NAMESPACE_URL, f"nce:charge:{event.subscription_id}:new:{event.term_start}"))
    stored = await storage.insert_line(
        ctx.conn, line_id, charge, subscription_id=event.subscription_id, customer_id=event.customer_id,
        partner_id=event.partner_id, currency=event.currency, promotion_id=event.promotion_id,
        order_date=event.term_start, now=ctx.now,
    )
    if stored:
        await ctx.emit(
            "billing.charge_created",
            ChargeCreated(
                line_id=line_id, subscription_id=event.subscription_id, customer_id=event.customer_id,
                partner_id=event.partner_id, charge_type=charge.charge_type, charge_start=charge.charge_start,
                charge_end=charge.charge_end, quantity=charge.quantity, unit_price=charge.unit_price,
                effective_unit_price=charge.effective_unit_price, amount=charge.amount, currency=event.currency,
                order_date=event.term_start,
            ),
            key=event.customer_id,
        )

"""Pricing's inbound messages."""
from shared.contracts.pricing import EosDateFound, PricesPublished, SetPrice
from shared.contracts.subscription import SubscriptionCreated
from shared.messaging.handlers import Context, Handlers

from services.pricing import storage

handlers = Handlers("pricing")


@handlers.on("pricing.set_price")
async def on_set_price(ctx: Context, cmd: SetPrice) -> None:
    ctx.require_operator()
    await storage.upsert_row(ctx.conn, cmd)
    await ctx.emit("pricing.prices_published", PricesPublished(market=cmd.market, rows=[cmd]), key=cmd.market)
    if cmd.end_of_sale_date is not None:
        state = "EndOfSaleWithConversions" if "EndOfSaleWithConversions" in cmd.tags else "EndOfSale"
        await ctx.emit("pricing.eos_date_found", EosDateFound(
            product_id=cmd.product_id, sku_id=cmd.sku_id, market=cmd.market, term_duration=cmd.term_duration,
            billing_cycle=cmd.billing_cycle, state=state, effective_date=cmd.end_of_sale_date,
        ), key=cmd.market)


@handlers.on("subscription.created", when=lambda event: bool(event.promotion_id))
async def on_subscription_created(ctx: Context, event: SubscriptionCreated) -> None:
    """Count a promotion's redemption (a purchase without one is skipped before any transaction)."""
    assert event.promotion_id
    await storage.record_redemption(ctx.conn, event.subscription_id, event.promotion_id, event.customer_id,
                                    event.quantity)

"""Pricing's inbound messages."""
from shared.contracts.pricing import PricePublished, SetPrice
from shared.messaging.handlers import Context, Handlers

from services.pricing import storage
from services.pricing.domain.rows import check_row

handlers = Handlers("pricing")


@handlers.on("pricing.set_price")
async def on_set_price(ctx: Context, cmd: SetPrice) -> None:
    check_row(cmd.effective_start, cmd.effective_end)
    await storage.upsert_price(ctx.conn, cmd, ctx.now)
    await ctx.emit("pricing.price_published", PricePublished(**cmd.model_dump()), key=cmd.market)

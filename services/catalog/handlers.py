"""The catalog's inbound messages."""
from shared.contracts.catalog import OfferPublished, PublishOffer
from shared.messaging.handlers import Context, Handlers

from services.catalog import storage
from services.catalog.domain.plans import check_offer

handlers = Handlers("catalog")


@handlers.on("catalog.publish_offer")
async def on_publish_offer(ctx: Context, cmd: PublishOffer) -> None:
    check_offer([(p.term_duration, p.billing_cycle) for p in cmd.plans], cmd.min_quantity, cmd.max_quantity)
    await storage.upsert_offer(ctx.conn, cmd, ctx.now)
    await ctx.emit("catalog.offer_published", OfferPublished(**cmd.model_dump()), key=cmd.product_id)

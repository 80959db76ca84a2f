"""The catalog's inbound messages: its commands, and End-of-Sale dates pricing finds in price lists."""
from shared.contracts.catalog import EosChanged, OfferPublished, PublishOffer, SetEos
from shared.contracts.pricing import EosDateFound
from shared.messaging.handlers import Context, Handlers

from services.catalog import storage
from services.catalog.domain.offers import check_offer

handlers = Handlers("catalog")


@handlers.on("catalog.publish_offer")
async def on_publish_offer(ctx: Context, cmd: PublishOffer) -> None:
    ctx.require_operator()
    check_offer([(p.term_duration, p.billing_cycle) for p in cmd.plans], cmd.min_quantity, cmd.max_quantity,
                cmd.trial)
    revision = await storage.upsert_offer(ctx.conn, cmd, ctx.now)
    if revision is None:  # unchanged: the outcome repeats the current revision
        revision = await storage.offer_revision(ctx.conn, cmd.catalog_item_id)
    await ctx.emit("catalog.offer_published", OfferPublished(**cmd.model_dump(), revision=revision),
                   key=cmd.product_id)


@handlers.on("catalog.set_eos")
async def on_set_eos(ctx: Context, cmd: SetEos) -> None:
    ctx.require_operator()
    await storage.set_eos(ctx.conn, cmd, "command", ctx.now)
    await ctx.emit("catalog.eos_changed", EosChanged(**cmd.model_dump(), source="command"), key=cmd.product_id)


@handlers.on("pricing.eos_date_found")
async def on_eos_date_found(ctx: Context, event: EosDateFound) -> None:
    rule = SetEos(**event.model_dump())
    if await storage.set_eos(ctx.conn, rule, "price_list", ctx.now):
        await ctx.emit("catalog.eos_changed", EosChanged(**rule.model_dump(), source="price_list"),
                       key=event.product_id)

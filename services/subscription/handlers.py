"""The subscription service's inbound messages: its commands, and the catalog and pricing events it copies."""
from dataclasses import asdict
from uuid import NAMESPACE_URL, uuid5

from shared.contracts.catalog import OfferPublished
from shared.contracts.pricing import PricesPublished
from shared.contracts.subscription import (
    CustomerRegistered,
    PartnerRegistered,
    Purchase,
    RegisterCustomer,
    RegisterPartner,
    SubscriptionCreated,
)
from shared.messaging.handlers import Context, Handlers
from shared.rejection import CommandRejectedError
from shared.rules.prices import select_row

from services.subscription import storage
from services.subscription.domain import purchase as rules
from services.subscription.domain.actors import check_acts_for

handlers = Handlers("subscription")


def _authorize(ctx: Context, partner_id: str) -> None:
    actor = ctx.envelope.actor
    check_acts_for(actor.partner_id if actor else None, actor.roles if actor else [], partner_id)


@handlers.on("catalog.offer_published")
async def on_offer_published(ctx: Context, event: OfferPublished) -> None:
    await storage.upsert_offer(ctx.conn, event)


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
    )
    if not await storage.insert_subscription(ctx.conn, subscription, ctx.now):
        raise CommandRejectedError(f"subscription {subscription.subscription_id} exists", "SUBSCRIPTION_EXISTS")
    await ctx.emit("subscription.created", SubscriptionCreated(**asdict(subscription)), key=cmd.customer_id)

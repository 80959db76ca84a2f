"""Copies of catalog and pricing facts, registrations and purchases."""
from datetime import date
from uuid import NAMESPACE_URL, uuid5

from services.subscription import storage
from services.subscription.domain import changes, trial
from services.subscription.domain import purchase as rules
from services.subscription.domain.changes import check_pooled_room
from services.subscription.handlers.common import _authorize, _eos_in, handlers
from shared.contracts.catalog import EosChanged, OfferPublished
from shared.contracts.pricing import FxRatesPublished, PricesPublished, PromotionPublished
from shared.contracts.subscription import (
    CustomerRegistered,
    PartnerRegistered,
    Purchase,
    RegisterCustomer,
    RegisterPartner,
    SubscriptionCreated,
)
from shared.messaging.handlers import Context
from shared.rejection import CommandRejectedError
from shared.rules.prices import best_promotion, pricing_currency, select_row


@handlers.on("catalog.offer_published")
async def on_offer_published(ctx: Context, event: OfferPublished) -> None:
    await storage.upsert_offer(ctx.conn, event)


@handlers.on("catalog.eos_changed")
async def on_eos_changed(ctx: Context, event: EosChanged) -> None:
    await storage.upsert_eos_rule(ctx.conn, event)


@handlers.on("pricing.promotion_published")
async def on_promotion_published(ctx: Context, event: PromotionPublished) -> None:
    await storage.upsert_promotion(ctx.conn, event)


@handlers.on("pricing.prices_published")
async def on_prices_published(ctx: Context, event: PricesPublished) -> None:
    await storage.upsert_prices(ctx.conn, event)


@handlers.on("pricing.fx_rates_published")
async def on_fx_rates_published(ctx: Context, event: FxRatesPublished) -> None:
    await storage.save_fx_pairs(ctx.conn, [(r.from_currency, r.to_currency, date.fromisoformat(f"{r.month}-01"))
                                           for r in event.rates])


@handlers.on("partner.register")
async def on_register_partner(ctx: Context, cmd: RegisterPartner) -> None:
    ctx.require_operator()  # a partner's billing currency and country are the platform's to set, not its own
    await storage.upsert_partner(ctx.conn, cmd)
    await ctx.emit("partner.registered", PartnerRegistered(**cmd.model_dump()), key=cmd.partner_id)


@handlers.on("customer.register")
async def on_register_customer(ctx: Context, cmd: RegisterCustomer) -> None:
    _authorize(ctx, cmd.partner_id)
    if not await storage.partner_exists(ctx.conn, cmd.partner_id):
        raise CommandRejectedError(f"no partner {cmd.partner_id}; register it first", "UNKNOWN_PARTNER")
    if not await storage.upsert_customer(ctx.conn, cmd):
        raise CommandRejectedError(f"customer id {cmd.customer_id} is another partner's; choose another",
                                   "CUSTOMER_EXISTS")
    await ctx.emit("customer.registered", CustomerRegistered(**cmd.model_dump()), key=cmd.customer_id)


@handlers.on("subscription.purchase")
async def on_purchase(ctx: Context, cmd: Purchase) -> None:
    subscription_id = cmd.subscription_id or str(uuid5(NAMESPACE_URL, f"nce:subscription:{ctx.envelope.id}"))
    facts = await storage.at_purchase(ctx.conn, cmd.customer_id, cmd.catalog_item_id, cmd.term_duration,
                                      cmd.billing_cycle, ctx.now.date(), subscription_id)
    customer, offer = facts.customer, facts.offer
    if customer is not None:  # another partner's customer answers as unknown
        _authorize(ctx, customer.partner_id, rules.UnknownCustomerError(rules.UNKNOWN_CUSTOMER))
    row = None
    if customer is not None:  # priced in the partner's currency, else the market's, converted by billing (§2.1)
        currency = pricing_currency((r.currency for r in facts.price_rows), customer.currency)
        row = select_row([r for r in facts.price_rows if r.currency == currency], ctx.now.date(), cmd.quantity)
        if row is not None and row.currency != customer.currency and row.currency not in facts.converts_from:
            raise rules.NoPriceError(f"no {customer.currency} price in {customer.market} ({row.currency} only) and "
                                     f"no FX rate {row.currency} to {customer.currency}")
    product_id, sku_id, _ = cmd.catalog_item_id.split(":")
    subscription = rules.purchase(
        now=ctx.now,
        subscription_id=subscription_id,
        customer=customer,
        offer=offer,
        unit_price=row.unit_price if row else None,
        price_currency=row.currency if row else None,
        term_duration=cmd.term_duration,
        billing_cycle=cmd.billing_cycle,
        quantity=cmd.quantity,
        auto_renew=cmd.auto_renew,
        eos=_eos_in(facts.eos_rules, cmd.catalog_item_id, customer.market, cmd.term_duration, cmd.billing_cycle,
                    ctx.now) if customer else None,
        promotion=best_promotion(
            facts.promotions, product_id=product_id, sku_id=sku_id, term=cmd.term_duration, cycle=cmd.billing_cycle,
            market=customer.market, on=ctx.now.date(), quantity=cmd.quantity, redeemed=facts.redeemed,
            requested=cmd.promotion_id,
        ) if customer else None,
        custom_term_end=cmd.custom_term_end_date,
        others=await storage.term_ends(ctx.conn, cmd.customer_id) if cmd.custom_term_end_date else None,
        bases=facts.bases,
    )
    check_pooled_room(facts.room, cmd.quantity)
    trial_of = cmd.catalog_item_id if offer is not None and offer.trial else None
    if trial_of:
        trial.check_first_trial(facts.trials_held)
    if facts.taken:
        raise CommandRejectedError(f"subscription {subscription.subscription_id} exists", "SUBSCRIPTION_EXISTS")
    await storage.insert_subscription(ctx.conn, subscription, ctx.now,
                                      [changes.Batch(cmd.quantity, subscription.cancellation_allowed_until)],
                                      trial_of=trial_of)
    await ctx.emit("subscription.created", SubscriptionCreated(**vars(subscription)), key=cmd.customer_id)

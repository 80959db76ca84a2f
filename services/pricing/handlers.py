"""Pricing's inbound messages."""
from shared.contracts.pricing import EosDateFound, PricesPublished, SetPrice
from shared.contracts.subscription import (
    SubscriptionCreated,
    SubscriptionTerms,
    TermChanged,
    TermsRenewed,
    Transitioned,
)
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
        ctx.emit_side_effect("pricing.eos_date_found", EosDateFound(  # caused by the outcome: one outcome a command
            product_id=cmd.product_id, sku_id=cmd.sku_id, market=cmd.market, term_duration=cmd.term_duration,
            billing_cycle=cmd.billing_cycle, state=state, effective_date=cmd.end_of_sale_date,
        ), key=cmd.market)


# A promotion's redemptions, for quotes: every promotion a subscription takes (at purchase, at renewal, by a term
# change or an upgrade) counts once against its customer's limit (§2.5), as the subscription service counts them,
# with the seats it held under it at those moments (a seat increase in between is not read here: the quote's seat
# check can fall short of the purchase's, which decides). An event that carries none is skipped before any
# transaction.


async def _redeemed(ctx: Context, taken: list[tuple[SubscriptionTerms, int]]) -> None:
    """Record each (subscription's terms, its seats then) that carries a promotion, with the seats under it."""
    for terms, quantity in taken:
        if terms.promotion_id:
            await storage.record_redemption(ctx.conn, terms.subscription_id, terms.promotion_id, terms.customer_id,
                                            quantity - terms.full_price_seats)


@handlers.on("subscription.created", when=lambda event: bool(event.promotion_id))
async def on_subscription_created(ctx: Context, event: SubscriptionCreated) -> None:
    await _redeemed(ctx, [(event, event.quantity)])


@handlers.on("subscription.terms_renewed", when=lambda event: any(r.promotion_id for r in event.renewals))
async def on_terms_renewed(ctx: Context, event: TermsRenewed) -> None:
    await _redeemed(ctx, [(r, r.quantity) for r in event.renewals])


@handlers.on("subscription.term_changed", when=lambda event: bool(event.promotion_id))
async def on_term_changed(ctx: Context, event: TermChanged) -> None:
    await _redeemed(ctx, [(event, event.quantity)])


@handlers.on("subscription.transitioned", when=lambda event: bool(event.target.promotion_id))
async def on_transitioned(ctx: Context, event: Transitioned) -> None:
    await _redeemed(ctx, [(event.target, event.target_quantity_after)])

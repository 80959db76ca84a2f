"""What happens at term end (domain.md §3.5, §8 rule 5, §9.5): renew into a fresh term, or expire."""
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from shared.rules.prices import NOT_REDEEMED, Promo, Redeemed, best_promotion, discounted

from services.subscription.domain.purchase import CANCELLATION_WINDOW, Subscription, term_end
from services.subscription.domain.scheduled import NextTerm


def renewal_promotion(sub: Subscription, start: date, held: Promo | None, promos: Iterable[Promo],
                      redeemed: Mapping[str, Redeemed], same_seats: bool = True) -> tuple[Promo | None, int]:
    """§2.5: the promotion the next term (`sub`, its offer, plan and seats) takes on its first day, `start`, and how
    many of its seats take it. The deepest one eligible then for all its seats; the one it holds is kept iff `start`
    lies in its window and it still fits; another is auto-applied as at a purchase, against `redeemed`: the
    customer's use of each by its other subscriptions, by promotion id (a promotion this one took before is not
    redeemed twice; its seat maximum counts theirs). When none fits all the seats it holds (`same_seats`: no
    scheduled change sets another number; seats moved in past the seat maximum), the one it holds is kept, in its
    window, for as many seats as its maximum leaves: the rest pay the unit price, as those seats did in the term."""
    product_id, sku_id, _ = sub.catalog_item_id.split(":")
    offered = {p.promotion_id: p for p in [*promos, *([held] if held else [])]}

    def best(among: Iterable[Promo], seats: int) -> Promo | None:
        return best_promotion(among, product_id=product_id, sku_id=sku_id, term=sub.term_duration,
                              cycle=sub.billing_cycle, market=sub.market, on=start, quantity=seats, redeemed=redeemed,
                              requested=held.promotion_id if held else None)

    if (taken := best(offered.values(), sub.quantity)) is not None:
        return taken, sub.quantity
    if held is not None and same_seats:
        room = held.max_quantity - redeemed.get(held.promotion_id, NOT_REDEEMED).seats
        if 0 < room < sub.quantity and (kept := best([offered[held.promotion_id]], room)) is not None:
            return kept, room
    return None, 0


def renew(sub: Subscription, completed: datetime, unit_price: Decimal, next_term: NextTerm | None = None,
          held: Promo | None = None, promos: Iterable[Promo] = (), redeemed: Mapping[str, Redeemed] | None = None,
          ) -> Subscription:
    """The next term starts the day after the inclusive end, at the price effective then, with a new 168 h window
    from the renewal's completion (§3.5); a scheduled change sets its offer, term, billing cycle, quantity and maybe
    the term's end; `held` is the promotion it holds, `promos` those of the next term's SKU, `redeemed` the
    customer's redemptions of each by its other subscriptions."""
    same_seats = next_term is None or next_term.quantity == sub.quantity
    if next_term is not None:
        sub = replace(sub, catalog_item_id=next_term.catalog_item_id, term_duration=next_term.term_duration,
                      billing_cycle=next_term.billing_cycle, quantity=next_term.quantity)
    start = sub.term_end + timedelta(days=1)
    taken, promoted = renewal_promotion(sub, start, held, promos, redeemed or {}, same_seats)
    end = next_term.custom_term_end_date if next_term and next_term.custom_term_end_date else term_end(start, sub.term_duration)
    return replace(sub, term_start=start, term_end=end, anchor=None,
                   full_price_seats=sub.quantity - promoted if taken else 0,
                   cancellation_allowed_until=completed + CANCELLATION_WINDOW, unit_price=unit_price,
                   promotion_id=taken.promotion_id if taken else None, effective_unit_price=discounted(unit_price, taken))


def taken(before: Subscription, after: Subscription) -> tuple[str, Redeemed] | None:
    """What a renewal (`before` → `after`) added to its customer's use of a promotion, for the renewals decided after
    it in the same transaction, which read that use before it was saved: a redemption and its seats, or more seats
    under the one it kept."""
    if after.promotion_id is None:
        return None
    seats = after.quantity - after.full_price_seats
    if after.promotion_id != before.promotion_id:
        return after.promotion_id, Redeemed(1, seats)
    grown = seats - (before.quantity - before.full_price_seats)
    return (after.promotion_id, Redeemed(0, grown)) if grown > 0 else None


def with_taken(redeemed: Mapping[str, Redeemed], extra: Mapping[str, Redeemed]) -> dict[str, Redeemed]:
    """`redeemed` as read, with what the renewals before in the same group took (`taken`)."""
    out = dict(redeemed)
    for promotion_id, more in extra.items():
        had = out.get(promotion_id, Redeemed(0, 0))
        out[promotion_id] = Redeemed(had.times + more.times, had.seats + more.seats)
    return out

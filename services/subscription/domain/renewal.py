"""What happens at term end (domain.md §3.5, §8 rule 5, §9.5): renew into a fresh term, or expire."""
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from shared.rules.prices import Promo, discounted

from services.subscription.domain.purchase import CANCELLATION_WINDOW, Subscription, term_end
from services.subscription.domain.scheduled import NextTerm


def keeps_promotion(promo: Promo | None, sub: Subscription, renewal: date) -> bool:
    """§2.5: a promotion carries into a renewal only if the renewal date lies in its window (and it still fits)."""
    return promo is not None and promo.start_date <= renewal <= promo.end_date and (
        promo.term_duration, promo.billing_cycle) == (sub.term_duration, sub.billing_cycle) and (
        f"{promo.product_id}:{promo.sku_id}" == sub.catalog_item_id.rsplit(":", 1)[0])


def renew(sub: Subscription, instant: datetime, unit_price: Decimal, next_term: NextTerm | None = None,
          promotion: Promo | None = None) -> Subscription:
    """The next term starts the day after the inclusive end, at the price effective then, with a new 168 h window;
    a scheduled change sets its offer, term, billing cycle, quantity and maybe the term's end; `promotion` is the
    current one, if any."""
    if next_term is not None:
        sub = replace(sub, catalog_item_id=next_term.catalog_item_id, term_duration=next_term.term_duration,
                      billing_cycle=next_term.billing_cycle, quantity=next_term.quantity)
    start = sub.term_end + timedelta(days=1)
    kept = promotion if keeps_promotion(promotion, sub, start) else None
    end = next_term.custom_term_end_date if next_term and next_term.custom_term_end_date else term_end(start, sub.term_duration)
    return replace(sub, term_start=start, term_end=end, anchor=None, full_price_seats=0,
                   cancellation_allowed_until=instant + CANCELLATION_WINDOW, unit_price=unit_price,
                   promotion_id=kept.promotion_id if kept else None, effective_unit_price=discounted(unit_price, kept))

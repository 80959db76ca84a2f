"""Which price row applies and what a promotion takes off (domain.md §2.3, §2.5, §9.5)."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Row:
    currency: str
    tier_min: int
    tier_max: int
    effective_start: date
    effective_end: date
    unit_price: Decimal


# When a market has no row in the partner's currency, it is billed from the first of these the market has (then
# alphabetical), converted with the month's FX rate at the charge date (§2.1).
SOURCE_PREFERENCE = ("USD", "EUR", "GBP")


def pricing_currency(currencies: Iterable[str], partner_currency: str) -> str | None:
    """The currency a partner is priced in: its own when the market has it, else the preferred one there."""
    present = set(currencies)
    if partner_currency in present:
        return partner_currency
    ranked = sorted(present, key=lambda c: (SOURCE_PREFERENCE.index(c) if c in SOURCE_PREFERENCE else 99, c))
    return ranked[0] if ranked else None


def select_row(rows: Iterable[Row], on: date, quantity: int) -> Row | None:
    """The row effective on `on` for `quantity`; of overlapping rows the one whose range closes first wins."""
    candidates = [r for r in rows if r.effective_start <= on <= r.effective_end and r.tier_min <= quantity <= r.tier_max]
    return min(candidates, key=lambda r: (r.effective_end, -r.effective_start.toordinal()), default=None)


def renewal_row(rows: Iterable[Row], on: date, quantity: int) -> Row | None:
    """For a renewal: the effective row, else the newest row that started on or before `on` (EOS offers, §9.5)."""
    rows = list(rows)
    found = select_row(rows, on, quantity)
    if found is not None:
        return found
    earlier = [r for r in rows if r.effective_start <= on and r.tier_min <= quantity <= r.tier_max]
    return max(earlier, key=lambda r: (r.effective_start, r.effective_end), default=None)


def next_term_row(rows: Iterable[Row], on: date, quantity: int, same_offer: bool) -> Row | None:
    """A next term's row: a renewal of the subscription's own offer may take the newest earlier one (§9.5: EOS offers
    leave the current list); a move into another offer (a scheduled upgrade, a trial's paid offer) needs a row in
    effect on `on`, as a purchase does (§2.3, §2.4: never a price that has ended)."""
    return renewal_row(rows, on, quantity) if same_offer else select_row(rows, on, quantity)


@dataclass(frozen=True)
class Promo:
    promotion_id: str
    product_id: str
    sku_id: str
    term_duration: str
    billing_cycle: str
    markets: frozenset[str]
    discount: Decimal
    start_date: date
    end_date: date
    min_quantity: int
    max_quantity: int
    redemption_limit: int
    auto_applicable: bool


def promo_from(p: Mapping[str, Any]) -> Promo:
    """A promotion from its published JSON form (`pricing.promotion_published` data)."""
    return Promo(
        p["promotion_id"], p["product_id"], p["sku_id"], p["term_duration"], p["billing_cycle"],
        frozenset(p["markets"]), Decimal(p["discount"]), date.fromisoformat(p["start_date"]),
        date.fromisoformat(p["end_date"]), p["min_quantity"], p["max_quantity"], p["redemption_limit"],
        p["auto_applicable"],
    )


@dataclass(frozen=True)
class Redeemed:
    """A customer's use of one promotion so far (§2.5, per customer): how many of its subscriptions took it, and the
    seats they held under it, each at its most (cancelled and returned seats count against the maximum too)."""

    times: int
    seats: int


NOT_REDEEMED = Redeemed(0, 0)


def best_promotion(
    promos: Iterable[Promo], *, product_id: str, sku_id: str, term: str, cycle: str, market: str, on: date,
    quantity: int, redeemed: Mapping[str, Redeemed] | None = None, requested: str | None = None,
) -> Promo | None:
    """The deepest eligible discount, or None. A term or plan mismatch is not an error: the list price applies.
    `redeemed`: the customer's use of each so far; its seat maximum counts those seats with `quantity`."""
    redeemed = redeemed or {}
    eligible = [
        p for p in promos
        if (p.product_id, p.sku_id, p.term_duration, p.billing_cycle) == (product_id, sku_id, term, cycle)
        and market in p.markets
        and p.start_date <= on <= p.end_date
        and p.min_quantity <= quantity
        and redeemed.get(p.promotion_id, NOT_REDEEMED).seats + quantity <= p.max_quantity
        and redeemed.get(p.promotion_id, NOT_REDEEMED).times < p.redemption_limit
        and (p.auto_applicable or p.promotion_id == requested)
    ]
    return max(eligible, key=lambda p: (p.discount, p.promotion_id), default=None)


def discounted(unit_price: Decimal, promo: Promo | None) -> Decimal:
    """EffectiveUnitPrice = UnitPrice × (1 − discount)."""
    return unit_price if promo is None else unit_price * (1 - promo.discount)

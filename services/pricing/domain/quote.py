"""Pricing one offer for one partner currency at one instant (domain.md §2.1, §2.3, §2.5)."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.rules.prices import Promo, Redeemed, Row, best_promotion, discounted, pricing_currency, select_row


class QuoteError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Quote:
    row: Row
    promotion: Promo | None
    effective_unit_price: Decimal
    fx_rate: Decimal


def quote(
    rows: list[Row], *, currency: str, fx: Mapping[str, Decimal], promos: Iterable[Promo], product_id: str,
    sku_id: str, term: str, cycle: str, market: str, on: date, quantity: int, redeemed: Mapping[str, Redeemed],
    requested: str | None = None,
) -> Quote:
    """`rows` are the offer's rows for this market, term and plan, in any currency."""
    source = pricing_currency((r.currency for r in rows), currency)
    fx_rate = Decimal(1)
    if source != currency:
        if source not in fx:
            have = ", ".join(sorted({r.currency for r in rows})) or "nothing"
            raise QuoteError(422, f"no {currency} price in {market} ({have} only) and no {on:%Y-%m} FX rate "
                                  f"{source} to {currency}")
        fx_rate = fx[source]
    rows = [r for r in rows if r.currency == source]
    row = select_row(rows, on, quantity)
    if row is None:
        raise QuoteError(404, f"no price row effective on {on} for {quantity} seats")
    promo = best_promotion(promos, product_id=product_id, sku_id=sku_id, term=term, cycle=cycle, market=market,
                           on=on, quantity=quantity, redeemed=redeemed, requested=requested)
    return Quote(row, promo, discounted(row.unit_price, promo), fx_rate)

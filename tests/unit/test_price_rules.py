"""Price-row selection, promotions and quotes (domain.md §2.3, §2.5, §9.5)."""
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.pricing.domain.quote import QuoteError, quote
from shared.contracts.pricing import Promotion, SetPrice
from shared.rules.prices import (
    Promo,
    Redeemed,
    Row,
    best_promotion,
    discounted,
    next_term_row,
    pricing_currency,
    renewal_row,
    select_row,
)

OPEN_START, OPEN_END = date(1753, 1, 1), date(9999, 12, 31)


def row(price: str, start: date, end: date, currency: str = "USD", tiers: tuple[int, int] = (1, 999_999)) -> Row:
    return Row(currency, tiers[0], tiers[1], start, end, Decimal(price))


def test_of_overlapping_rows_the_one_that_closes_first_wins_as_in_the_documented_example() -> None:
    rows = [row("10", date(2023, 10, 1), date(2023, 11, 3)), row("11", date(2023, 11, 1), OPEN_END)]
    assert select_row(rows, date(2023, 11, 2), 1).unit_price == Decimal("10")  # type: ignore[union-attr]
    assert select_row(rows, date(2023, 11, 4), 1).unit_price == Decimal("11")  # type: ignore[union-attr]
    assert select_row(rows, date(2023, 9, 30), 1) is None


def test_1753_and_9999_mean_open_ended() -> None:
    rows = [row("5", OPEN_START, OPEN_END)]
    assert select_row(rows, date(1900, 1, 1), 1) and select_row(rows, date(9000, 1, 1), 1)


def test_the_tier_containing_the_quantity_applies() -> None:
    rows = [row("24", OPEN_START, OPEN_END, tiers=(1, 500)), row("21.60", OPEN_START, OPEN_END, tiers=(501, 999_999))]
    assert select_row(rows, date(2025, 1, 1), 500).unit_price == Decimal("24")  # type: ignore[union-attr]
    assert select_row(rows, date(2025, 1, 1), 501).unit_price == Decimal("21.60")  # type: ignore[union-attr]


def test_a_renewal_of_an_offer_gone_from_the_list_uses_its_newest_earlier_row() -> None:
    rows = [row("100", date(2024, 1, 1), date(2024, 12, 31)), row("110", date(2025, 1, 1), date(2026, 12, 31))]
    assert select_row(rows, date(2027, 3, 1), 1) is None
    assert renewal_row(rows, date(2027, 3, 1), 1).unit_price == Decimal("110")  # type: ignore[union-attr]
    assert renewal_row(rows, date(2025, 6, 1), 1).unit_price == Decimal("110")  # type: ignore[union-attr]


def test_a_next_term_in_another_offer_needs_a_row_in_effect_its_own_offer_may_take_the_newest_earlier() -> None:
    ended = [row("72", date(2025, 1, 1), date(2026, 6, 30))]  # closed by its EffectiveEndDate, no EOS rule
    assert next_term_row(ended, date(2026, 8, 1), 1, same_offer=True).unit_price == Decimal("72")  # type: ignore[union-attr]
    assert next_term_row(ended, date(2026, 8, 1), 1, same_offer=False) is None
    assert next_term_row(ended, date(2026, 6, 30), 1, same_offer=False).unit_price == Decimal("72")  # type: ignore[union-attr]


def promo(pid: str, discount: str, **kw: object) -> Promo:
    base = dict(promotion_id=pid, product_id="CFQ7TTC0LH18", sku_id="0001", term_duration="P1Y",
                billing_cycle="annual", markets=frozenset({"US"}), discount=Decimal(discount),
                start_date=date(2025, 1, 1), end_date=date(2025, 12, 31), min_quantity=1, max_quantity=300,
                redemption_limit=1, auto_applicable=True)
    return Promo(**{**base, **kw})  # type: ignore[arg-type]


def best(promos: list[Promo], **kw: object) -> Promo | None:
    args = dict(product_id="CFQ7TTC0LH18", sku_id="0001", term="P1Y", cycle="annual", market="US",
                on=date(2025, 6, 1), quantity=10)
    return best_promotion(promos, **{**args, **kw})  # type: ignore[arg-type]


def test_the_deepest_of_overlapping_promotions_is_applied() -> None:
    assert best([promo("A", "0.10"), promo("B", "0.15")]).promotion_id == "B"  # type: ignore[union-attr]


@pytest.mark.parametrize("kw", [
    {"term": "P1M", "cycle": "monthly"},  # a term mismatch silently falls back to the list price
    {"cycle": "monthly"},
    {"market": "DE"},
    {"on": date(2026, 1, 1)},
    {"quantity": 301},
    {"redeemed": {"A": Redeemed(1, 5)}},  # its one redemption is used
    {"redeemed": {"A": Redeemed(0, 291)}},  # 291 + 10 seats > its maximum of 300 (§2.5: across the customer's)
])
def test_no_promotion_when_a_condition_fails_and_no_error_either(kw: dict[str, object]) -> None:
    assert best([promo("A", "0.10")], **kw) is None


def test_a_promotions_seat_maximum_counts_the_seats_the_customer_holds_or_held_under_it() -> None:
    limited = promo("A", "0.10", redemption_limit=2)
    assert best([limited], redeemed={"A": Redeemed(1, 290)}) is limited  # 290 + 10 = 300: still inside


def test_a_promotion_that_is_not_auto_applicable_needs_to_be_asked_for() -> None:
    opt_in = promo("BTTC2", "0.20", auto_applicable=False)
    assert best([opt_in]) is None
    assert best([opt_in], requested="BTTC2") is opt_in


def test_effective_unit_price_is_the_partner_price_less_the_discount() -> None:
    assert discounted(Decimal("72"), promo("A", "0.15")) == Decimal("61.20")


def quoted(rows: list[Row], currency: str, fx: dict[str, Decimal] | None = None):  # type: ignore[no-untyped-def]
    return quote(rows, currency=currency, fx=fx or {}, promos=[], product_id="P", sku_id="0001", term="P1Y",
                 cycle="annual", market="DE", on=date(2025, 3, 1), quantity=1, redeemed={})


def test_a_european_file_prices_a_partner_in_its_own_currency_without_fx() -> None:
    rows = [row("100", OPEN_START, OPEN_END, "EUR"), row("85", OPEN_START, OPEN_END, "GBP")]
    q = quoted(rows, "GBP")
    assert (q.row.currency, q.row.unit_price, q.fx_rate) == ("GBP", Decimal("85"), Decimal(1))


def test_without_a_row_in_the_partner_currency_the_months_fx_rate_converts() -> None:
    q = quoted([row("100", OPEN_START, OPEN_END, "EUR")], "USD", {"EUR": Decimal("1.08")})
    assert (q.row.currency, q.fx_rate) == ("EUR", Decimal("1.08"))


def test_without_the_partner_currency_the_preferred_market_currency_is_converted() -> None:
    rows = [row("90", OPEN_START, OPEN_END, "SEK"), row("100", OPEN_START, OPEN_END, "EUR")]
    q = quoted(rows, "USD", {"SEK": Decimal("0.09"), "EUR": Decimal("1.08")})
    assert (q.row.currency, q.fx_rate) == ("EUR", Decimal("1.08"))
    assert pricing_currency(["SEK", "NOK"], "USD") == "NOK" and pricing_currency([], "USD") is None


def test_no_row_and_no_rate_is_a_specific_422() -> None:
    with pytest.raises(QuoteError, match="no JPY price in DE .EUR only. and no 2025-03 FX rate EUR to JPY") as e:
        quoted([row("100", OPEN_START, OPEN_END, "EUR")], "JPY")
    assert e.value.status == 422


def test_a_price_row_or_promotion_names_a_plan_new_commerce_has_and_promotions_sensible_ranges() -> None:
    row = {"product_id": "CFQ7TTC0LH18", "sku_id": "0001", "market": "US", "currency": "USD", "term_duration": "P1Y",
           "billing_cycle": "annual", "effective_start": "2025-01-01", "effective_end": "9999-12-31", "unit_price": "72"}
    SetPrice.model_validate(row)
    for wrong, why in (({"term_duration": "P1M"}, "P1M billed annual is not a plan"),
                       ({"billing_cycle": "triennial"}, "P1Y billed triennial is not a plan"),
                       ({"term_duration": "P1M", "billing_cycle": "none"}, "a trial is free: UnitPrice 72")):
        with pytest.raises(ValidationError, match=why):
            SetPrice.model_validate({**row, **wrong})
    promotion = {"promotion_id": "39NFJQT1PJQB:0001:39NFJQT1Q5KN", "name": "15 %", "product_id": "CFQ7TTC0LH18",
                 "sku_id": "0001", "term_duration": "P1Y", "billing_cycle": "annual", "markets": ["US"],
                 "discount": "0.15", "start_date": "2025-01-01", "end_date": "2025-06-30"}
    Promotion.model_validate(promotion)
    for wrong, why in (({"end_date": "2024-12-31"}, "start_date 2025-01-01 is after end_date 2024-12-31"),
                       ({"min_quantity": 10, "max_quantity": 5}, "min_quantity 10 is above max_quantity 5"),
                       ({"term_duration": "P1M"}, "P1M billed annual is not a plan")):
        with pytest.raises(ValidationError, match=why):
            Promotion.model_validate({**promotion, **wrong})

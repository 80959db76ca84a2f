"""End-of-Sale scope precedence and timing (domain.md §5.1, §5.2 rows 1-2)."""
from datetime import UTC, date, datetime

from services.catalog.domain.offers import purchasable_plans
from shared.rules.eos import EosRule, eos_state

P, S = "CFQ7TTC0LF8Q", "0001"


def rule(state: str, on: date, **scope: str) -> EosRule:
    return EosRule(P, scope.get("sku"), scope.get("market"), scope.get("term"), scope.get("cycle"), state, on)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_an_eos_date_takes_effect_at_midnight_utc_and_not_a_second_before() -> None:
    rules = [rule("EndOfSale", date(2027, 1, 1))]
    assert eos_state(rules, P, S, "US", "P1Y", "annual", at(2026, 12, 31, 23, 59, 59)) is None
    assert eos_state(rules, P, S, "US", "P1Y", "annual", at(2027, 1, 1)).state == "EndOfSale"  # type: ignore[union-attr]


def test_the_most_specific_effective_rule_wins() -> None:
    rules = [
        rule("EndOfSale", date(2026, 1, 1)),  # whole product
        rule("EndOfSaleWithConversions", date(2026, 1, 1), sku=S, market="US"),
        rule("Active", date(2026, 1, 1), sku=S, market="US", term="P3Y"),
    ]
    state = lambda m, t: eos_state(rules, P, S, m, t, "annual", at(2026, 6, 1))  # noqa: E731
    assert state("DE", "P1Y").state == "EndOfSale"  # type: ignore[union-attr]
    assert state("US", "P1Y").state == "EndOfSaleWithConversions"  # type: ignore[union-attr]
    assert state("US", "P3Y") is None  # an explicit Active rule narrows the scope back


def test_a_narrower_rule_not_yet_effective_leaves_the_broader_one_in_force() -> None:
    rules = [rule("EndOfSale", date(2026, 1, 1)), rule("EndOfLife", date(2027, 1, 1), market="US")]
    assert eos_state(rules, P, S, "US", "P1M", "monthly", at(2026, 6, 1)).state == "EndOfSale"  # type: ignore[union-attr]
    assert eos_state(rules, P, S, "US", "P1M", "monthly", at(2027, 6, 1)).state == "EndOfLife"  # type: ignore[union-attr]


def test_on_equal_narrowing_a_sku_rule_beats_a_market_rule() -> None:
    rules = [rule("EndOfSale", date(2026, 1, 1), market="US"),
             rule("EndOfSaleWithConversions", date(2026, 1, 1), sku=S)]
    assert eos_state(rules, P, S, "US", None, None, at(2026, 2, 1)).state == "EndOfSaleWithConversions"  # type: ignore[union-attr]


def test_only_the_blocked_plans_leave_the_listing() -> None:
    plans = [("P1M", "monthly"), ("P1Y", "annual")]
    rules = [rule("EndOfSaleWithConversions", date(2026, 12, 15), sku=S, market="US", term="P1M")]
    assert purchasable_plans(P, S, plans, rules, "US", at(2026, 12, 14)) == plans
    assert purchasable_plans(P, S, plans, rules, "US", at(2026, 12, 15)) == [("P1Y", "annual")]
    assert purchasable_plans(P, S, plans, rules, "GB", at(2026, 12, 15)) == plans


def test_end_of_life_holds_over_a_narrower_end_of_sale_from_the_price_list() -> None:
    rules = [rule("EndOfSale", date(2027, 1, 1), sku=S, market="US", term="P1Y", cycle="annual"),  # price list
             rule("EndOfSaleWithConversions", date(2026, 12, 15), sku=S, market="US", term="P1M"),
             rule("EndOfLife", date(2027, 6, 1))]  # the operator's, product-wide
    state = lambda t, c, when: eos_state(rules, P, S, "US", t, c, when).state  # type: ignore[union-attr]
    assert state("P1Y", "annual", at(2027, 5, 31, 23, 59, 59)) == "EndOfSale"
    assert state("P1Y", "annual", at(2027, 6, 1)) == "EndOfLife"
    assert state("P1M", "monthly", at(2027, 6, 1)) == "EndOfLife"


def test_an_explicit_active_rule_narrower_than_end_of_life_brings_its_scope_back() -> None:
    rules = [rule("EndOfLife", date(2027, 6, 1)), rule("Active", date(2027, 6, 2), sku=S, market="US"),
             rule("EndOfSale", date(2027, 1, 1), sku=S, market="US", term="P1Y")]
    assert eos_state(rules, P, S, "US", "P1M", "monthly", at(2027, 6, 3)) is None
    assert eos_state(rules, P, S, "US", "P1Y", "annual", at(2027, 6, 3)).state == "EndOfSale"  # type: ignore[union-attr]
    assert eos_state(rules, P, S, "GB", "P1M", "monthly", at(2027, 6, 3)).state == "EndOfLife"  # type: ignore[union-attr]

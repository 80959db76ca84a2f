"""The End-of-Sale decision table (domain.md §5.2, §9.4, §9.10) row by row, through commands on the real system.

End-of-Sale dates are set through the catalog for 2026-01-10 (US); subscriptions are bought before that date and
acted on after it. Rows 3, 7, 8 (into EndOfSale) and 11 run in test_simulated_clock.py, row 17 in
test_lifecycle.py; row 16 needs a software subscription with two billing plans for one term, which the sample has
not, so it is a unit test (tests/unit/test_scheduled.py).
"""
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sample import OFFERS
from tests.up import Up

pytestmark = pytest.mark.e2e
BASIC, STANDARD = OFFERS["CFQ7TTC0LH18:0001"], OFFERS["CFQ7TTC0LDPB:0001"]
PREMIUM, TRIAL, TEAMS = OFFERS["CFQ7TTC0LCHC:0001"], OFFERS["CFQ7TTC0LCHC:0002"], OFFERS["CFQ7TTC0MBMJ:0001"]
RULES = [  # (product, SKU, term, plan, state)
    ("CFQ7TTC0LH18", "0001", None, None, "EndOfSale"),  # Business Basic, every plan
    ("CFQ7TTC0LDPB", "0001", None, None, "EndOfSaleWithConversions"),  # Business Standard
    ("CFQ7TTC0MBMJ", "0001", None, None, "EndOfLife"),  # Teams Enterprise
    ("CFQ7TTC0LCHC", "0001", "P1Y", "monthly", "EndOfSale"),  # Business Premium, P1Y billed monthly only
]
SUBSCRIPTIONS = [  # (id, offer, term, plan, seats, auto-renew)
    ("S-BASIC", BASIC, "P1Y", "monthly", 10, True), ("S-BASIC2", BASIC, "P1Y", "annual", 5, True),
    ("S-STD", STANDARD, "P1Y", "annual", 5, True), ("S-TEAMS", TEAMS, "P1Y", "annual", 5, False),
    ("S-TRIAL", TRIAL, "P1M", "none", 25, True), ("S-PREM", PREMIUM, "P1Y", "monthly", 5, False),
]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    system = Up(tmp_path_factory.mktemp("eos"), "--clock", "simulated", "--start", "2026-01-05T09:00:00Z")
    try:
        system.wait_for("nce is up at")
        system.send("partner.register", {"partner_id": "P1", "name": "P1", "billing_currency": "USD", "country": "US"})
        system.send("customer.register", {"partner_id": "P1", "customer_id": "C1", "name": "C1", "country": "US"})
        for sid, offer, term, plan, seats, renew in SUBSCRIPTIONS:
            code, out = system.send("subscription.purchase", {
                "customer_id": "C1", "catalog_item_id": offer, "term_duration": term, "billing_cycle": plan,
                "quantity": seats, "auto_renew": renew, "subscription_id": sid})
            assert code == 0, out
        for product, sku, term, plan, state in RULES:
            code, out = system.send("catalog.set_eos", {
                "product_id": product, "sku_id": sku, "market": "US", "term_duration": term, "billing_cycle": plan,
                "state": state, "effective_date": "2026-01-10"})
            assert code == 0, out
        assert system.post("/clock", {"to": "2026-01-11T00:00:00Z"})["now"] == "2026-01-11T00:00:00+00:00"
        yield system
    finally:
        system.stop()


def send(up: Up, type_: str, **data: Any) -> str:
    code, outcome = up.send(type_, data)
    return outcome["data"]["code"] if code else "OK"


def test_row_1_an_end_of_sale_offer_can_no_longer_be_bought(up: Up) -> None:
    assert send(up, "subscription.purchase", customer_id="C1", catalog_item_id=BASIC, term_duration="P1Y",
                billing_cycle="annual", quantity=1) == "10001"


def test_row_2_it_is_no_longer_listed_but_still_known(up: Up) -> None:
    listed = {i["catalog_item_id"] for i in up.get("/catalog/items?market=US")["items"]}
    assert BASIC not in listed and STANDARD not in listed and TEAMS not in listed and PREMIUM in listed
    assert up.get(f"/catalog/items/{BASIC}")["catalog_item_id"] == BASIC


def test_row_4_auto_renew_goes_off_but_not_on_for_an_end_of_life_source(up: Up) -> None:
    assert send(up, "subscription.set_auto_renew", subscription_id="S-TEAMS", enabled=True) == "800093"
    assert send(up, "subscription.set_auto_renew", subscription_id="S-TEAMS", enabled=False) == "OK"
    assert send(up, "subscription.set_auto_renew", subscription_id="S-STD", enabled=True) == "OK"  # EOSwC: both ways


def test_row_5_seats_can_be_added_on_end_of_sale_and_end_of_life_sources(up: Up) -> None:
    assert send(up, "subscription.change_quantity", subscription_id="S-TEAMS", quantity=7) == "OK"
    assert send(up, "subscription.change_quantity", subscription_id="S-BASIC", quantity=12) == "OK"


def test_row_6_seats_go_back_inside_the_window_by_the_normal_rules(up: Up) -> None:
    assert send(up, "subscription.change_quantity", subscription_id="S-BASIC2", quantity=3) == "OK"
    assert up.get("/subscriptions/S-BASIC2")["quantity"] == 3


def test_row_9_a_trial_converts_into_end_of_sale_conversions_but_not_end_of_sale(up: Up) -> None:
    convert = lambda cycle: send(up, "subscription.convert_trial", subscription_id="S-TRIAL",  # noqa: E731
                                 quantity=25, term_duration="P1Y", billing_cycle=cycle)
    assert convert("monthly") == "10001"  # Premium P1Y monthly is EndOfSale
    assert convert("annual") == "OK"


def test_rows_10_13_14_what_may_be_scheduled_after_the_date(up: Up) -> None:
    schedule = lambda sid, **change: send(up, "subscription.schedule_change", subscription_id=sid,  # noqa: E731
                                          **change)
    assert schedule("S-BASIC", catalog_item_id=PREMIUM) == "10001"  # row 10: a SKU change into EndOfSale
    assert schedule("S-BASIC", catalog_item_id=STANDARD) == "OK"  # row 10: into EndOfSaleWithConversions
    assert schedule("S-BASIC2", billing_cycle="monthly") == "OK"  # row 13: billing frequency only, on EOS
    assert schedule("S-BASIC2", term_duration="P3Y") == "10001"  # row 14: a new term into EndOfSale
    assert schedule("S-STD", term_duration="P3Y") == "10001"  # row 14 / §9.4: a new term into EOSwC


def test_row_12_no_mid_term_term_change_into_an_end_of_sale_combination(up: Up) -> None:
    change = lambda sid, term, cycle: send(up, "subscription.change_term", subscription_id=sid,  # noqa: E731
                                           term_duration=term, billing_cycle=cycle)
    assert change("S-BASIC", "P3Y", "monthly") == "10001"
    assert change("S-STD", "P3Y", "annual") == "10001"  # EOSwC too (§9.4)


def test_row_15_a_transition_out_of_an_end_of_sale_source_into_an_active_offer_is_allowed(up: Up) -> None:
    code, moved = up.send("subscription.transition", {"subscription_id": "S-BASIC", "target_catalog_item_id": PREMIUM,
                                                      "quantity": 2, "billing_cycle": "annual"})
    assert code == 0 and moved["data"]["kind"] == "partial", moved
    child = moved["data"]["target"]
    assert (child["catalog_item_id"], child["billing_cycle"], child["term_end"]) == (PREMIUM, "annual", "2027-01-04")
    assert child["effective_unit_price"] == child["unit_price"]  # the new offer's own price, no promotion carried
    assert up.get("/subscriptions/S-BASIC")["quantity"] == 10  # 12 less the 2 moved


def us_states(item: dict[str, Any]) -> set[str]:
    return {s["state"] for s in item["eos"] if s["market"] == "US"}


def test_an_end_of_life_announced_for_an_end_of_sale_scope_follows_it_and_does_not_undo_it(up: Up) -> None:
    """§5.1: EndOfLife is a later state than EndOfSale. Announced for the same scope, it takes over from its own
    date; until then the scope stays EndOfSale (not buyable), and the announcement is kept beside it."""
    assert send(up, "catalog.set_eos", product_id="CFQ7TTC0LH18", sku_id="0001", market="US", state="EndOfLife",
                effective_date="2026-06-01") == "OK"
    assert send(up, "subscription.purchase", customer_id="C1", catalog_item_id=BASIC, term_duration="P1Y",
                billing_cycle="annual", quantity=1) == "10001"  # still EndOfSale now (2026-01-11)
    basic = up.eventually(f"/catalog/items/{BASIC}?at=2026-03-01T00:00:00Z",
                          lambda b: len(b["eos_rules"]) == 2)
    assert {(r["state"], r["effective_date"]) for r in basic["eos_rules"]} == {
        ("EndOfSale", "2026-01-10"), ("EndOfLife", "2026-06-01")}
    assert us_states(basic) == {"EndOfSale"}
    assert us_states(up.get(f"/catalog/items/{BASIC}?at=2026-06-01T00:00:00Z")) == {"EndOfLife"}
    # setting the scope Active withdraws both
    assert send(up, "catalog.set_eos", product_id="CFQ7TTC0LH18", sku_id="0001", market="US", state="Active",
                effective_date="2026-01-11") == "OK"
    assert up.eventually(f"/catalog/items/{BASIC}?at=2026-07-01T00:00:00Z",
                         lambda b: us_states(b) == {"Active"})["eos_rules"] == [
        {"state": "Active", "effective_date": "2026-01-11", "sku_id": "0001", "market": "US", "term_duration": None,
         "billing_cycle": None}]
    assert send(up, "subscription.purchase", customer_id="C1", catalog_item_id=BASIC, term_duration="P1Y",
                billing_cycle="annual", quantity=1) == "OK"


def test_end_of_life_holds_over_a_narrower_end_of_sale(up: Up) -> None:
    """§5.1, §9.10: Business Premium's P1Y billed monthly is at End of Sale (a plan's rule, as the price list sets
    them); an EndOfLife for the whole SKU ends that plan's life too, though the plan's rule is narrower. Runs last:
    it moves the clock."""
    assert send(up, "subscription.set_auto_renew", subscription_id="S-PREM", enabled=True) == "OK"  # EOS: allowed
    assert send(up, "subscription.set_auto_renew", subscription_id="S-PREM", enabled=False) == "OK"
    assert send(up, "catalog.set_eos", product_id="CFQ7TTC0LCHC", sku_id="0001", market="US", state="EndOfLife",
                effective_date="2026-01-12") == "OK"
    premium = up.eventually(f"/catalog/items/{PREMIUM}?at=2026-01-12T00:00:00Z",
                            lambda p: "EndOfLife" in us_states(p))
    assert us_states(premium) == {"EndOfLife"}
    impact = up.eventually("/subscriptions/eos-impact", lambda b: any(
        d["date"] == "2026-01-12" and d["subscriptions"] for d in b["dates"]))
    [day] = [d for d in impact["dates"] if d["date"] == "2026-01-12"]
    assert ("P1Y", "monthly", "EndOfLife", ["S-PREM"]) in [
        (a["term_duration"], a["billing_cycle"], a["state"], a["sample"]) for a in day["affected"]]
    assert up.post("/clock", {"to": "2026-01-12T00:00:00Z"})["now"] == "2026-01-12T00:00:00+00:00"
    assert send(up, "subscription.set_auto_renew", subscription_id="S-PREM", enabled=True) == "800093"

"""Mid-term rules through commands on the real system, at simulated instants exact to the second."""
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sample import OFFERS
from tests.up import Up

pytestmark = pytest.mark.e2e
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"  # pooled maximum 300 per customer
T0 = "2025-03-01T12:00:00Z"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    system = Up(tmp_path_factory.mktemp("life"), "--clock", "simulated", "--start", T0)
    try:
        system.wait_for("nce is up at")
        for p in ("P1", "P2"):
            system.send("partner.register", {"partner_id": p, "name": p, "billing_currency": "USD", "country": "US"})
            system.send("customer.register", {"partner_id": p, "customer_id": f"C-{p}", "name": p, "country": "US"})
        for sid, qty in (("S-Q", 10), ("S-C1", 1), ("S-C2", 1), ("S-R", 3)):
            code, out = system.send("subscription.purchase", {
                "customer_id": "C-P1", "catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "annual",
                "quantity": qty, "subscription_id": sid})
            assert code == 0, out
        yield system
    finally:
        system.stop()


def at(up: Up, instant: str) -> None:
    assert up.post("/clock", {"to": instant})["now"] == instant.replace("Z", "+00:00")


def send(up: Up, type_: str, data: dict[str, Any], actor: str | None = None) -> tuple[str, dict[str, Any]]:
    code, outcome = up.send(type_, data, **({"actor": actor} if actor else {}))
    return (outcome["data"]["code"] if code else "OK"), outcome


def quantity(up: Up, sid: str, n: int, actor: str | None = None) -> str:
    return send(up, "subscription.change_quantity", {"subscription_id": sid, "quantity": n}, actor)[0]


def test_seats_can_be_added_any_time_and_given_back_only_within_168_hours_of_adding_them(up: Up) -> None:
    at(up, "2025-03-05T16:00:00Z")  # T0 + 100 h
    assert quantity(up, "S-Q", 15) == "OK"
    assert quantity(up, "S-Q", 12) == "OK"  # the newest seats go back first
    assert up.get("/subscriptions/S-Q")["refundable_quantity"]["total"] == 12
    at(up, "2025-03-08T12:00:00Z")  # T0 + 168 h exactly: the purchase's seats are still refundable
    assert quantity(up, "S-Q", 9) == "OK"
    assert send(up, "subscription.cancel", {"subscription_id": "S-C1"})[0] == "OK"  # and it can still be cancelled
    at(up, "2025-03-08T12:00:01Z")  # one second later they are not
    code, outcome = send(up, "subscription.change_quantity", {"subscription_id": "S-Q", "quantity": 8})
    assert code == "800090" and "0 seats were added in the last 168 hours" in outcome["data"]["message"]
    assert up.get("/subscriptions/S-Q")["quantity"] == 9


def test_cancellation_is_allowed_until_the_168th_hour_to_the_second(up: Up) -> None:
    # S-C1 was cancelled at T0 + 168 h exactly (previous test); the clock now stands one second later.
    assert up.get("/subscriptions/S-C1")["status"] == "deleted"
    up.eventually("/scheduler/timers?key=S-C1", lambda body: body["timers"] == [])  # no term end to time any more
    code, outcome = send(up, "subscription.cancel", {"subscription_id": "S-C2"})
    assert code == "900117" and "cancellation window" in outcome["data"]["message"]
    assert up.get("/subscriptions/S-C2")["status"] == "active"


def test_suspension_blocks_changes_turns_auto_renew_off_and_reactivation_restores_it(up: Up) -> None:
    assert send(up, "subscription.suspend", {"subscription_id": "S-R"})[0] == "OK"
    suspended = up.get("/subscriptions/S-R")
    assert (suspended["status"], suspended["auto_renew"]) == ("suspended", False)
    assert quantity(up, "S-R", 4) == "800091"
    assert send(up, "subscription.set_auto_renew", {"subscription_id": "S-R", "enabled": True})[0] == "800091"
    assert send(up, "subscription.reactivate", {"subscription_id": "S-R"})[0] == "OK"
    assert up.get("/subscriptions/S-R")["status"] == "active"
    assert send(up, "subscription.reactivate", {"subscription_id": "S-R"})[0] == "SUBSCRIPTION_NOT_ACTIVE"


def test_roles_and_partners_limit_who_may_do_what(up: Up) -> None:
    helpdesk = '{"partner_id": "P1", "roles": ["HelpdeskAgent"]}'
    assert quantity(up, "S-R", 4, helpdesk) == "FORBIDDEN"
    assert send(up, "subscription.suspend", {"subscription_id": "S-R"}, helpdesk)[0] == "OK"
    assert send(up, "subscription.reactivate", {"subscription_id": "S-R"}, helpdesk)[0] == "OK"
    billing = '{"partner_id": "P1", "roles": ["BillingAdmin"]}'
    assert send(up, "subscription.suspend", {"subscription_id": "S-R"}, billing)[0] == "FORBIDDEN"
    other = '{"partner_id": "P2", "roles": ["AdminAgent"]}'
    assert quantity(up, "S-R", 4, other) == "UNKNOWN_SUBSCRIPTION"  # as one that does not exist
    assert quantity(up, "S-R", 4, '{"partner_id": "P2", "roles": ["AdminAgent", "GlobalAdmin"]}') == \
        "UNKNOWN_SUBSCRIPTION"  # a partner holding the operator's role is still only that partner
    assert quantity(up, "S-R", 4, '{"partner_id": "P1", "roles": ["SalesAgent"]}') == "OK"


def test_the_pooled_per_customer_maximum_counts_every_subscription_of_the_sku(up: Up) -> None:
    # C-P1 holds 9 + 1 + 4 = 14 Business Basic seats of 300 (the cancelled subscription's seat no longer counts).
    code, outcome = send(up, "subscription.purchase", {
        "customer_id": "C-P1", "catalog_item_id": BASIC, "term_duration": "P1M", "billing_cycle": "monthly",
        "quantity": 287})
    assert code == "800088" and "remaining limit of 286 seats" in outcome["data"]["message"]
    assert quantity(up, "S-Q", 9 + 287) == "800088"
    assert quantity(up, "S-Q", 9 + 286) == "OK"


def test_an_unknown_subscription_is_named_as_such(up: Up) -> None:
    assert quantity(up, "S-NOPE", 2) == "UNKNOWN_SUBSCRIPTION"


STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL"  # an upgrade target of Business Basic
E5 = "CFQ7TTC0LFLZ:0001"  # not one


def schedule(up: Up, sid: str, actor: str | None = None, **change: Any) -> str:
    return send(up, "subscription.schedule_change", {"subscription_id": sid, **change}, actor)[0]


def test_a_change_needs_an_active_auto_renewing_subscription_and_an_upgrade_path(up: Up) -> None:
    assert schedule(up, "S-R", quantity=2) == "800093"  # suspending turned its auto-renew off
    e5 = next(i["catalog_item_id"] for i in up.get("/catalog/items?market=US")["items"]
              if i["catalog_item_id"].startswith(E5))
    assert schedule(up, "S-Q", catalog_item_id=e5) == "900260"
    assert schedule(up, "S-Q", term_duration="P1M", billing_cycle="annual") == "900270"


def test_a_mid_term_change_wipes_the_scheduled_one(up: Up) -> None:
    assert schedule(up, "S-C2", quantity=5) == "800088"  # C-P1 holds all 300 Basic seats (above): none to add
    assert schedule(up, "S-C2", billing_cycle="monthly") == "OK"
    assert up.get("/subscriptions/S-C2")["scheduled_change"]["billing_cycle"] == "monthly"
    assert send(up, "subscription.set_auto_renew", {"subscription_id": "S-C2", "enabled": False})[0] == "OK"
    assert up.get("/subscriptions/S-C2")["scheduled_change"] is None
    assert send(up, "subscription.cancel_scheduled_change", {"subscription_id": "S-C2"})[0] == "NO_SCHEDULED_CHANGE"


def test_a_scheduled_upgrade_is_applied_at_renewal_at_the_price_then(up: Up) -> None:
    assert schedule(up, "S-Q", catalog_item_id=STANDARD, quantity=20) == "OK"
    at(up, "2026-03-01T00:00:00Z")  # S-Q's term (bought 2025-03-01) ended on 2026-02-28
    renewed = up.get("/subscriptions/S-Q")
    assert (renewed["catalog_item_id"], renewed["quantity"]) == (STANDARD, 20)
    assert (renewed["term_start"], renewed["term_end"]) == ("2026-03-01", "2027-02-28")
    assert renewed["unit_price"] == "150.000000" and renewed["scheduled_change"] is None
    assert renewed["refundable_quantity"]["total"] == 20


def test_the_term_can_only_get_longer_mid_term_and_starts_anew_today(up: Up) -> None:
    change = lambda term, cycle: send(up, "subscription.change_term", {  # noqa: E731
        "subscription_id": "S-Q", "term_duration": term, "billing_cycle": cycle})[0]
    assert change("P1Y", "monthly") == "BILLING_CYCLE_CHANGE_MID_TERM"
    assert change("P1M", "monthly") == "TERM_NOT_LONGER"
    assert change("P3Y", "triennial") == "OK"
    longer = up.get("/subscriptions/S-Q")
    assert (longer["term_duration"], longer["term_start"], longer["term_end"]) == ("P3Y", "2026-03-01", "2029-02-28")
    up.eventually("/scheduler/timers?key=S-Q", lambda body: body["timers"][0]["due_at"].startswith("2029-03-01"))


def test_a_purchase_can_end_its_first_term_at_a_month_end_or_with_another_subscription(up: Up) -> None:
    buy = lambda **kw: send(up, "subscription.purchase", {  # noqa: E731
        "customer_id": "C-P2", "catalog_item_id": STANDARD, "term_duration": "P1Y", "billing_cycle": "annual",
        "quantity": 1, **kw}, '{"partner_id": "P2", "roles": ["AdminAgent"]}')
    code, aligned = buy(custom_term_end_date="2027-01-31", subscription_id="S-ALIGN")
    assert code == "OK" and (aligned["data"]["term_start"], aligned["data"]["term_end"]) == ("2026-03-01", "2027-01-31")
    assert buy(custom_term_end_date="2027-01-15")[0] == "900242"
    code, coterm = buy(custom_term_end_date="2027-01-31")  # S-ALIGN's end, also a month end
    assert code == "OK"


def test_a_trial_is_one_per_customer_and_converts_at_its_end_to_the_paid_plan(up: Up) -> None:
    p2 = '{"partner_id": "P2", "roles": ["AdminAgent"]}'
    buy = lambda **kw: send(up, "subscription.purchase", {  # noqa: E731
        "customer_id": "C-P2", "catalog_item_id": OFFERS["CFQ7TTC0LCHC:0002"], "term_duration": "P1M",
        "billing_cycle": "none", "quantity": 25, **kw}, p2)
    code, started = buy(subscription_id="S-TRIAL")
    assert code == "OK" and started["data"]["term_end"] == "2026-03-31", started
    assert buy()[0] == "TRIAL_ALREADY_USED"
    assert send(up, "subscription.change_quantity", {"subscription_id": "S-TRIAL", "quantity": 30}, p2)[0] == (
        "TRIAL_NOT_CHANGEABLE")
    at(up, "2026-04-01T00:00:00Z")
    paid = up.get("/subscriptions/S-TRIAL")
    assert paid["catalog_item_id"] == OFFERS["CFQ7TTC0LCHC:0001"]
    assert (paid["term_duration"], paid["billing_cycle"], paid["quantity"]) == ("P1Y", "monthly", 25)
    assert (paid["term_start"], paid["term_end"], paid["unit_price"]) == ("2026-04-01", "2027-03-31", "277.200000")
    assert paid["promotion_id"] is None and paid["status"] == "active"


def test_a_trial_converts_now_with_at_least_25_seats_or_into_an_existing_subscription(up: Up) -> None:
    p1 = '{"partner_id": "P1", "roles": ["AdminAgent"]}'
    assert send(up, "subscription.purchase", {
        "customer_id": "C-P1", "catalog_item_id": OFFERS["CFQ7TTC0LCHC:0002"], "term_duration": "P1M",
        "billing_cycle": "none", "quantity": 25, "subscription_id": "S-TRIAL1"}, p1)[0] == "OK"
    convert = lambda **kw: send(up, "subscription.convert_trial", {"subscription_id": "S-TRIAL1", **kw}, p1)  # noqa: E731
    assert convert(quantity=24)[0] == "900275"
    assert convert(quantity=30, target_subscription_id="S-Q")[0] == "900260"  # Business Standard: a lower tier
    code, converted = convert(quantity=30, term_duration="P1Y", billing_cycle="annual")
    assert code == "OK" and converted["type"] == "subscription.trial_converted"
    paid = up.get("/subscriptions/S-TRIAL1")
    assert (paid["catalog_item_id"], paid["term_duration"], paid["billing_cycle"], paid["quantity"]) == (
        OFFERS["CFQ7TTC0LCHC:0001"], "P1Y", "annual", 30)
    assert paid["term_start"] == "2026-04-01" and paid["promotion_id"] is None
    assert convert(quantity=30)[0] == "NOT_A_TRIAL"


def test_a_scheduled_change_can_end_the_next_term_at_a_month_end_and_renewal_applies_it(up: Up) -> None:
    p2 = '{"partner_id": "P2", "roles": ["AdminAgent"]}'
    assert schedule(up, "S-ALIGN", p2, custom_term_end_date="2027-12-15") == "900242"  # not a month end
    assert schedule(up, "S-ALIGN", p2, custom_term_end_date="2028-02-29") == "900245"  # past the next term
    assert schedule(up, "S-ALIGN", p2, custom_term_end_date="2027-12-31") == "OK"
    assert up.get("/subscriptions/S-ALIGN")["scheduled_change"]["custom_term_end_date"] == "2027-12-31"
    at(up, "2027-02-01T00:00:00Z")  # S-ALIGN's first term ended on 2027-01-31
    renewed = up.get("/subscriptions/S-ALIGN")
    assert (renewed["term_start"], renewed["term_end"], renewed["scheduled_change"]) == ("2027-02-01", "2027-12-31",
                                                                                         None)
    up.eventually("/scheduler/timers?key=S-ALIGN",
                  lambda body: any(t["due_at"].startswith("2028-01-01") for t in body["timers"]))


def test_perpetual_software_is_refundable_for_30_days_never_renews_and_software_subscriptions_keep_their_seats(
        up: Up) -> None:
    def buy(offer: str, sid: str, qty: int = 2) -> dict[str, Any]:
        code, out = send(up, "subscription.purchase", {
            "customer_id": "C-P1", "catalog_item_id": OFFERS[offer], "term_duration": "P1Y", "billing_cycle": "annual",
            "quantity": qty, "subscription_id": sid})
        assert code == "OK", out
        return out["data"]

    perpetual = buy("DG7GMGF0FKZV:0002", "S-PERP")
    assert perpetual["auto_renew"] is False and perpetual["cancellation_allowed_until"] == "2027-03-03T00:00:00Z"
    assert send(up, "subscription.set_auto_renew", {"subscription_id": "S-PERP", "enabled": True})[0] == "800093"
    buy("DG7GMGF0FKZV:0002", "S-PERP-REFUND")
    buy("DG7GMGF0D5RK:000P", "S-SOFT", 4)
    assert quantity(up, "S-SOFT", 3) == "800090"  # a software subscription gives no seats back
    assert quantity(up, "S-SOFT", 6) == "OK"
    at(up, "2027-03-03T00:00:00Z")  # the 30th day after the purchase, to the second
    assert send(up, "subscription.cancel", {"subscription_id": "S-PERP-REFUND"})[0] == "OK"
    at(up, "2028-02-01T00:00:00Z")  # S-PERP's "term" ended on 2028-01-31: nothing ends or renews
    kept = up.get("/subscriptions/S-PERP")
    assert (kept["status"], kept["term_start"]) == ("active", "2027-02-01")

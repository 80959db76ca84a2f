"""The simulated clock over the whole system: renewals and expiry by term end, EOS dates on time, no going back."""
import asyncio
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from services.billing.domain.charges import round_line
from tests.kafka import read
from tests.sample import OFFERS
from tests.up import Up

pytestmark = pytest.mark.e2e
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
E3, LEGACY = OFFERS["CFQ7TTC0LF8R:0001"], OFFERS["CFQ7TTC0HHS9:0001"]
STANDARD = OFFERS["CFQ7TTC0LDPB:0001"]
PROMO = "39NFJQT1PJQB:0001:39NFJQT1Q5KN"  # the sample's 15 % off Business Basic P1Y annual, 2025-01-01 to 2027-06-30


def buy(up: Up, offer: str, term: str, cycle: str, **more: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    return up.send("subscription.purchase", {"customer_id": "C1", "catalog_item_id": offer, "term_duration": term,
                                             "billing_cycle": cycle, "quantity": 1, **more})


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    system = Up(tmp_path_factory.mktemp("sim"), "--clock", "simulated", "--start", "2025-01-15T10:00:00Z")
    try:
        system.wait_for("nce is up at")
        yield system
    finally:
        system.stop()


def events(up: Up, topic: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.value) for r in asyncio.run(read(up.bootstrap(), topic, until=1, settle=0.5))]


def test_commands_are_stamped_with_the_simulated_time(up: Up) -> None:
    assert up.get("/clock") == {"now": "2025-01-15T10:00:00+00:00", "mode": "simulated"}
    up.send("partner.register", {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD", "country": "US"})
    up.send("customer.register", {"partner_id": "P1", "customer_id": "C1", "name": "Fabrikam", "country": "US"})
    for sid, term, auto in (("S-MONTH", "P1M", True), ("S-YEAR", "P1Y", True), ("S-OFF", "P1Y", False)):
        code, created = up.send("subscription.purchase", {
            "customer_id": "C1", "catalog_item_id": BASIC, "term_duration": term, "billing_cycle": "monthly",
            "quantity": 5, "auto_renew": auto, "subscription_id": sid})
        assert code == 0 and created["data"]["term_start"] == "2025-01-15", created
        assert created["data"]["cancellation_allowed_until"] == "2025-01-22T10:00:00Z"


def test_the_deepest_promotion_is_applied_once_per_customer_and_the_price_locked(up: Up) -> None:
    code, first = buy(up, BASIC, "P1Y", "annual", quantity=5, subscription_id="S-PROMO")
    assert code == 0 and first["data"]["promotion_id"] == "39NFJQT1PJQB:0001:39NFJQT1Q5KN"
    assert Decimal(first["data"]["unit_price"]) == 72 and Decimal(first["data"]["effective_unit_price"]) == Decimal("61.2")
    code, second = buy(up, BASIC, "P1Y", "annual", quantity=5, subscription_id="S-PROMO2")
    assert second["data"]["promotion_id"] == "39NFJQT1Q0C7:0001:39NFJQT1Q0C8"  # the 15% one is used up: 10%
    code, monthly = buy(up, BASIC, "P1Y", "monthly", quantity=1)
    assert monthly["data"]["promotion_id"] is None  # no promotion for that plan, and no error either


def test_thirteen_months_renew_each_term_exactly_once_in_order_and_expire_without_auto_renew(up: Up) -> None:
    moved = up.post("/clock", {"to": "2026-02-15T10:00:00Z"})
    assert moved["now"] == "2026-02-15T10:00:00+00:00"
    subscription_events = events(up, "nce.subscription.events")
    renewals = [r for e in subscription_events if e["type"] == "subscription.terms_renewed"
                for r in e["data"]["renewals"]]
    monthly = [r["term_start"] for r in renewals if r["subscription_id"] == "S-MONTH"]
    assert monthly == [f"{y}-{m:02d}-15" for y, m in [(2025, m) for m in range(2, 13)] + [(2026, 1), (2026, 2)]]
    assert [r["term_start"] for r in renewals if r["subscription_id"] == "S-YEAR"] == ["2026-01-15"]
    [expired] = [e["data"] for e in subscription_events if e["type"] == "subscription.expired"]
    assert (expired["subscription_id"], expired["next_step_at"]) == ("S-OFF", "2026-02-14T00:00:00Z")  # 30 days
    [disabled] = [e["data"] for e in subscription_events if e["type"] == "subscription.disabled"]
    assert (disabled["at"], disabled["next_step_at"]) == ("2026-02-14T00:00:00Z", "2026-05-15T00:00:00Z")  # 90 days
    assert up.get("/subscriptions/S-OFF")["status"] == "disabled"
    yearly = up.get("/subscriptions/S-YEAR")
    assert (yearly["term_start"], yearly["term_end"]) == ("2026-01-15", "2027-01-14")
    assert yearly["cancellation_allowed_until"] == "2026-01-22T00:00:00+00:00"  # a fresh window from the renewal
    fired = [e for e in events(up, "nce.scheduler.events") if e["type"] == "scheduler.terms_ended"]
    ended = [(t["subscription_id"], t["term_end"]) for e in fired for t in e["data"]["terms"]]
    assert len(fired) == len({e["id"] for e in fired})
    assert len(ended) == len(set(ended)) == 13 + 1 + 1 + 3  # + the three P1Y bought with promotions
    steps = [e for e in events(up, "nce.scheduler.events") if e["type"] == "scheduler.lifecycle_step_due"]
    assert [s["data"]["step"] for s in steps] == ["disabled"]
    kept = up.get("/subscriptions/S-PROMO")
    assert (kept["term_start"], kept["promotion_id"]) == ("2026-01-15", "39NFJQT1PJQB:0001:39NFJQT1Q5KN")
    assert Decimal(kept["effective_unit_price"]) == Decimal("61.2")  # renewed inside the promotion's window: kept


def test_an_eos_date_is_reached_at_its_midnight_and_not_before(up: Up) -> None:
    def reached() -> list[dict]:  # type: ignore[type-arg]
        return [e["data"] for e in events(up, "nce.scheduler.events") if e["type"] == "scheduler.eos_date_reached"]

    up.post("/clock", {"to": "2026-12-14T23:59:59Z"})
    assert reached() == []
    assert up.get("/subscriptions/S-OFF")["status"] == "deleted"  # 90 days after it was disabled
    assert buy(up, E3, "P1M", "monthly", subscription_id="S-E3A")[0] == 0  # one second before: still for sale
    assert buy(up, E3, "P1M", "monthly", subscription_id="S-E3B")[0] == 0
    code, scheduled = up.send("subscription.schedule_change", {"subscription_id": "S-E3A", "quantity": 3})
    assert code == 0, scheduled  # row 11: submitted before the date
    up.post("/clock", {"to": "2026-12-15T00:00:00Z"})
    for step in ("suspend", "reactivate"):  # row 7: suspending and reactivating an EOS source is allowed
        code, outcome = up.send(f"subscription.{step}", {"subscription_id": "S-E3B"})
        assert code == 0, outcome
    code, refused = buy(up, E3, "P1M", "monthly")
    assert code == 1 and refused["data"]["code"] == "10001" and "EndOfSaleWithConversions" in refused["data"]["message"]
    assert buy(up, E3, "P1Y", "annual")[0] == 0  # the rule covers P1M only
    now_due = reached()
    assert now_due and {(r["product_id"], r["state"], r["instant"]) for r in now_due} == {
        ("CFQ7TTC0LF8R", "EndOfSaleWithConversions", "2026-12-15T00:00:00Z")}  # from the matrix and the price list


def test_a_legacy_offer_is_never_sold(up: Up) -> None:
    code, refused = buy(up, LEGACY, "P1M", "monthly")
    assert code == 1 and refused["data"]["code"] == "LEGACY_OFFER"


def test_an_end_of_life_plan_does_not_renew_even_with_auto_renew_on(up: Up) -> None:
    eol = {"product_id": "CFQ7TTC0LH18", "sku_id": "0001", "market": "US", "term_duration": "P1M",
           "state": "EndOfLife", "effective_date": "2026-12-20"}
    assert buy(up, BASIC, "P1M", "monthly", subscription_id="S-OUT")[0] == 0  # bought before the date
    assert up.send("catalog.set_eos", eol)[0] == 0
    up.post("/clock", {"to": "2026-12-21T00:00:00Z"})
    code, scheduled = up.send("subscription.schedule_change", {  # §5.2 row 15: out of the EOL plan, after its date
        "subscription_id": "S-OUT", "term_duration": "P1Y", "billing_cycle": "annual"})
    assert code == 0, scheduled
    up.post("/clock", {"to": "2027-01-15T00:00:00Z"})
    expired = [e["data"] for e in events(up, "nce.subscription.events") if e["type"] == "subscription.expired"]
    assert {"subscription_id": "S-MONTH", "reason": "end_of_life"}.items() <= expired[-1].items()
    assert "S-OUT" not in {e["subscription_id"] for e in expired}
    assert up.get("/subscriptions/S-MONTH")["status"] == "expired"
    assert up.get("/subscriptions/S-YEAR")["term_start"] == "2027-01-15"  # P1Y is not covered: it renewed
    out = up.get("/subscriptions/S-OUT")  # renewed into the plan scheduled out of the EOL one
    assert (out["status"], out["term_start"], out["term_end"]) == ("active", "2027-01-15", "2028-01-14")
    assert (out["term_duration"], out["billing_cycle"], out["scheduled_change"]) == ("P1Y", "annual", None)


def test_a_change_scheduled_before_an_eos_date_is_applied_at_the_renewal_after_it(up: Up) -> None:
    renewed = up.get("/subscriptions/S-E3A")  # row 11 (and row 3: an EOSwC source renews)
    assert (renewed["term_start"], renewed["quantity"], renewed["scheduled_change"]) == ("2027-01-14", 3, None)
    assert renewed["status"] == "active"
    assert up.get("/subscriptions/S-E3B")["status"] == "expired"  # its suspension had turned auto-renew off


def test_an_eos_date_in_the_price_list_blocks_a_transition_into_that_offer_right_after_not_before(up: Up) -> None:
    code, created = buy(up, BASIC, "P1Y", "annual", quantity=10, subscription_id="S-T")
    assert code == 0, created
    standard_row = {"product_id": "CFQ7TTC0LDPB", "sku_id": "1", "market": "US", "currency": "USD",
                    "term_duration": "P1Y", "billing_cycle": "annual", "unit_price": "165.00",
                    "effective_start": "2026-12-01", "effective_end": "9999-12-31", "tags": ["License", "EndOfSale"],
                    "end_of_sale_date": "2027-02-01"}
    assert up.send("pricing.set_price", standard_row)[0] == 0
    move = {"subscription_id": "S-T", "target_catalog_item_id": STANDARD, "quantity": 4}
    up.post("/clock", {"to": "2027-01-31T23:59:59Z"})
    code, moved = up.send("subscription.transition", move)
    assert code == 0 and moved["data"]["kind"] == "partial", moved
    child = moved["data"]["target"]
    assert child["term_end"] == created["data"]["term_end"] and child["unit_price"] == "165.000000"
    assert up.get(f"/subscriptions/{child['subscription_id']}")["parent_subscription_id"] == "S-T"
    up.post("/clock", {"to": "2027-02-01T00:00:00Z"})
    code, refused = up.send("subscription.transition", {**move, "quantity": 2})
    assert code == 1 and refused["data"]["code"] == "10001" and "EndOfSale" in refused["data"]["message"]
    assert up.get("/subscriptions/S-T")["quantity"] == 6


def test_the_clock_refuses_to_go_back(up: Up) -> None:
    refused = up.post("/clock", {"to": "2025-01-01T00:00:00Z"}, 409)
    assert "cannot go back" in refused["error"]
    assert up.get("/clock")["now"] == "2027-02-01T00:00:00+00:00"


def test_seats_added_after_the_promotions_window_are_charged_without_it(up: Up) -> None:
    """§2.5: seats added inside the promotion's window take it; seats added after it ended pay the unit price, on
    lines of their own without the promotion, until the term renews. A decrease gives back the newest seats first."""
    def seats(n: int) -> dict:  # type: ignore[type-arg]
        code, outcome = up.send("subscription.change_quantity", {"subscription_id": "S-PROMO", "quantity": n})
        assert code == 0, outcome
        return outcome["data"]

    held = up.get("/subscriptions/S-PROMO")  # renewed on 2027-01-15, inside its promotion's window (to 2027-06-30)
    assert (held["promotion_id"], held["term_end"]) == ("39NFJQT1PJQB:0001:39NFJQT1Q5KN", "2028-01-14")
    assert seats(7)["full_price_seats"] == 0  # 2027-02-01: inside the window
    up.post("/clock", {"to": "2027-07-01T00:00:00Z"})  # the day after the window
    added = seats(10)
    assert (added["full_price_seats_before"], added["full_price_seats"]) == (0, 3)
    assert seats(8)["full_price_seats"] == 1  # within 168 hours: two of the full-price seats given back
    assert up.get("/subscriptions/S-PROMO")["full_price_seats"] == 1
    july = up.get("/billing/lines?subscription_id=S-PROMO&month=2027-07")["lines"]
    days = (date(2028, 1, 14) - date(2027, 7, 1)).days + 1  # of the 365-day annual cycle, from the change on
    promoted, full = (round_line(price * days / 365) for price in (Decimal("61.2"), Decimal(72)))
    assert sorted((line["quantity"], line["promotion_id"] or "none", Decimal(line["amount"])) for line in july) == sorted([
        (7, PROMO, -promoted * 7), (7, PROMO, promoted * 7), (3, "none", full * 3),  # 7 → 10
        (7, PROMO, -promoted * 7), (3, "none", -full * 3), (7, PROMO, promoted * 7), (1, "none", full)])  # 10 → 8
    assert sum(Decimal(line["amount"]) for line in july) == full  # one seat more than before July, at full price

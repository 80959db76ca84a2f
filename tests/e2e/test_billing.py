"""Billing through the real system under the simulated clock: charge lines to the cent, invoices per month.

Business Basic P1Y billed monthly costs 75.60 a year in the sample's US list: 6.30 per monthly cycle.
"""
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_DOWN, Decimal

import pytest

from tests.up import Up

pytestmark = pytest.mark.e2e
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
D = Decimal


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    system = Up(tmp_path_factory.mktemp("billing"), "--clock", "simulated", "--start", "2026-01-31T10:00:00Z")
    try:
        system.wait_for("nce is up at")
        system.send("partner.register", {"partner_id": "P1", "name": "P1", "billing_currency": "USD", "country": "US"})
        system.send("customer.register", {"partner_id": "P1", "customer_id": "C1", "name": "C1", "country": "US"})
        yield system
    finally:
        system.stop()


def at(up: Up, instant: str) -> None:
    up.post("/clock", {"to": instant})


def buy(up: Up, sid: str, cycle: str, quantity: int) -> dict:  # type: ignore[type-arg]
    code, out = up.send("subscription.purchase", {"customer_id": "C1", "catalog_item_id": BASIC, "term_duration": "P1Y",
                                                  "billing_cycle": cycle, "quantity": quantity, "subscription_id": sid})
    assert code == 0, out
    return out["data"]  # type: ignore[no-any-return]


def lines(up: Up, sid: str) -> list[tuple[str, str, str, int, str]]:
    return [(r["charge_type"], r["charge_start"], r["charge_end"], r["quantity"], r["amount"])
            for r in up.get(f"/billing/lines?subscription_id={sid}")["lines"]]


def down(amount: Decimal) -> Decimal:
    return amount.quantize(D("0.01"), rounding=ROUND_DOWN)


def test_a_purchase_on_the_31st_is_charged_for_its_first_cycle_to_the_27th_of_february(up: Up) -> None:
    buy(up, "S-M", "monthly", 10)
    up.eventually("/billing/lines?subscription_id=S-M", lambda body: body["lines"])
    assert lines(up, "S-M") == [("new", "2026-01-31", "2026-02-27", 10, "63.00")]


def test_seats_added_and_removed_in_a_cycle_are_wiped_and_recreated_for_the_days_left(up: Up) -> None:
    at(up, "2026-02-03T00:00:00Z")
    assert up.send("subscription.change_quantity", {"subscription_id": "S-M", "quantity": 15})[0] == 0
    at(up, "2026-02-05T00:00:00Z")
    assert up.send("subscription.change_quantity", {"subscription_id": "S-M", "quantity": 12})[0] == 0
    up.eventually("/billing/lines?subscription_id=S-M", lambda body: len(body["lines"]) == 5)
    # 25 of the cycle's 28 days from Feb 3: 6.30 × 25 / 28 = 5.625 → 5.62 a seat; 23 days from Feb 5: 5.175 → 5.17
    assert lines(up, "S-M")[1:] == [
        ("addQuantity", "2026-02-03", "2026-02-27", 10, "-56.20"), ("addQuantity", "2026-02-03", "2026-02-27", 15, "84.30"),
        ("removeQuantity", "2026-02-05", "2026-02-27", 15, "-77.55"),
        ("removeQuantity", "2026-02-05", "2026-02-27", 12, "62.04")]
    refs = {r["reference_id"] for r in up.get("/billing/lines?subscription_id=S-M")["lines"][1:3]}
    assert len(refs) == 1  # a wipe and its recreate share one reference id


def test_a_cancellation_in_the_window_refunds_the_unused_days(up: Up) -> None:
    created = buy(up, "S-A", "annual", 2)
    price = D(created["effective_unit_price"])  # the sample's promotion applies to P1Y annual
    assert send_cancel(up, "S-A") == 0  # at 2026-02-05, bought the same day
    up.eventually("/billing/lines?subscription_id=S-A", lambda body: len(body["lines"]) == 2)
    assert lines(up, "S-A") == [("new", "2026-02-05", "2027-02-04", 2, str(down(price) * 2)),
                                ("cancelImmediate", "2026-02-05", "2027-02-04", 2, str(-down(price) * 2))]  # §9.3


def send_cancel(up: Up, sid: str) -> int:
    return up.send("subscription.cancel", {"subscription_id": sid})[0]


def test_each_later_cycle_is_charged_at_its_start_and_each_month_closes_into_an_invoice(up: Up) -> None:
    at(up, "2026-03-01T00:00:00Z")
    assert lines(up, "S-M")[-1] == ("cycleCharge", "2026-02-28", "2026-03-30", 12, "75.60")
    january = up.get("/billing/invoices/P1/2026-01")
    assert (january["status"], january["invoice_number"], january["totals"]) == ("issued", "NCE-202601-P1",
                                                                                 {"USD": "63.00"})
    february = up.get("/billing/invoices/P1/2026-02")
    amounts = [D(r["amount"]) for r in february["lines"]]
    assert february["status"] == "issued" and D(february["totals"]["USD"]) == sum(amounts) and len(amounts) == 7
    assert february["line_count"] == 7
    assert up.get("/billing/invoices/P1/2026-03")["status"] == "open"
    csv = up.get_text("/billing/invoices/P1/2026-02/reconciliation.csv").splitlines()
    assert csv[0].startswith("PartnerId,CustomerId,OrderId,OrderDate,ProductId,SkuId,AvailabilityId,ChargeType")
    assert len(csv) == 8 and ",cycleCharge," in csv[-1] and ",CFQ7TTC0LH18,0001,CFQ7TTC0K971," in csv[-1]
    assert date.fromisoformat(csv[-1].split(",")[3]) == date(2026, 2, 28)


def test_a_preview_shows_what_the_coming_month_bills_if_nothing_changes(up: Up) -> None:
    preview = up.get("/billing/invoices/P1/2026-03/preview")  # the clock stands at 2026-03-01
    assert [(p["subscription_id"], p["charge_type"], p["charge_start"], p["amount"]) for p in preview["projected"]] == [
        ("S-M", "cycleCharge", "2026-03-31", "75.60")]  # the cancelled S-A is not in it
    assert preview["status"] == "preview" and preview["totals"] == {"USD": "75.60"}


def test_a_price_in_another_currency_is_converted_at_each_charge_dates_monthly_rate(up: Up) -> None:
    """A GBP partner's US customer: the US list has USD only, so each line converts at its month's USD→GBP rate."""
    up.send("partner.register", {"partner_id": "P2", "name": "P2", "billing_currency": "GBP", "country": "GB"})
    up.send("customer.register", {"partner_id": "P2", "customer_id": "C2", "name": "C2", "country": "US"})
    code, out = up.send("subscription.purchase", {"customer_id": "C2", "catalog_item_id": BASIC, "quantity": 10,
                                                  "term_duration": "P1Y", "billing_cycle": "monthly",
                                                  "subscription_id": "S-GBP"})  # at 2026-03-01
    assert code == 0 and (out["data"]["currency"], out["data"]["billing_currency"]) == ("USD", "GBP"), out
    quote = up.get(f"/pricing/quote?catalog_item_id={BASIC}&term_duration=P1Y&billing_cycle=monthly&market=US"
                   "&currency=GBP&quantity=10&at=2026-03-01T00:00:00Z")
    at(up, "2026-04-01T00:00:00Z")
    found = up.get("/billing/lines?subscription_id=S-GBP")["lines"]
    assert [(r["charge_type"], r["currency"], r["pricing_currency"], r["fx_rate"]) for r in found] == [
        ("new", "GBP", "USD", "0.7927060000"), ("cycleCharge", "GBP", "USD", "0.7917280000")]  # sample's 2026-03, -04
    assert D(quote["fx_rate"]) == D(found[0]["fx_rate"])  # the quote and the charge agree on the rate
    # ROUNDDOWN(EUP × FX, 2) × seats: 6.30 × 0.792706 = 4.9940478 → 4.99; 6.30 × 0.791728 = 4.9878864 → 4.98
    assert [r["amount"] for r in found] == ["49.90", "49.80"]
    march = up.get("/billing/invoices/P2/2026-03")
    assert (march["status"], march["totals"]) == ("issued", {"GBP": "49.90"})
    assert 'nce_charged_amount{charge_type="cycleCharge",currency="GBP"} 49.8' in up.get_text("/metrics")


def test_a_purchase_billing_could_not_convert_is_refused(up: Up) -> None:
    up.send("partner.register", {"partner_id": "P3", "name": "P3", "billing_currency": "JPY", "country": "JP"})
    up.send("customer.register", {"partner_id": "P3", "customer_id": "C3", "name": "C3", "country": "US"})
    code, out = up.send("subscription.purchase", {"customer_id": "C3", "catalog_item_id": BASIC, "quantity": 1,
                                                  "term_duration": "P1Y", "billing_cycle": "monthly"})
    assert code != 0 and out["data"]["code"] == "NO_PRICE", out
    assert "no JPY price in US (USD only) and no FX rate USD to JPY" in out["data"]["message"]

"""A year of a 10,000-subscription book under the simulated clock, checked against a model written here.

Four partners (USD, GBP, EUR, and a GBP partner whose customers are in the USD-only US market, so every line is
converted), six plans, four offers, purchases on the 1st, the 15th and the 31st of January (month-end anchors), and
changes the day after: seats added, cancellations in the window, auto-renew off, P1M → P1Y term changes. The clock
then runs to 2027-01-01. What must hold:
- every subscription has exactly the lines the model predicts (type and order date): one per purchase, renewal,
  cycle start and change, none missing, none twice;
- every amount is ROUNDDOWN(EUP × FX, 2) × quantity with the sample's FX rate of the line's month;
- each partner has 12 issued invoices, each with its number, whose totals per currency equal the sum of its
  reconciliation file's lines recomputed here.

NCE_BOOK_SIZE sets the book's size (default 10,000).
"""
import asyncio
import calendar
import csv
import io
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from services.send import command, send_many
from tests.up import Up

pytestmark = pytest.mark.e2e
D = Decimal
SIZE = int(os.environ.get("NCE_BOOK_SIZE", "10000"))
SAMPLE_FX = Path(__file__).parents[2] / "services" / "sample" / "fx-rates.csv"
PARTNERS = [("PUS", "USD", "US"), ("PGB", "GBP", "GB"), ("PDE", "EUR", "DE"), ("PFX", "GBP", "US")]
CUSTOMERS_PER_PARTNER = max(1, SIZE // 80)
OFFERS = ["CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL", "CFQ7TTC0LCHC:0001:CFQ7TTC0K8TS",
          "CFQ7TTC0LF8Q:0001:CFQ7TTC0K5BN"]
PLANS = [("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual"), ("P3Y", "monthly"), ("P3Y", "annual"),
         ("P3Y", "triennial")]
WAVES = [datetime.fromisoformat(t) for t in ("2026-01-01T00:00:00+00:00", "2026-01-15T09:00:00+00:00",
                                             "2026-01-31T12:00:00+00:00")]
YEAR_END = date(2026, 12, 31)
DAY = timedelta(days=1)


def add_months(d: date, n: int) -> date:
    """Written again here, not imported: the model must not share the code it checks."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


class Sub:
    def __init__(self, i: int) -> None:
        rnd = random.Random(i)
        self.id = f"Y{i:05d}"
        self.wave = i % 3
        self.partner, self.currency, self.market = PARTNERS[(i // 3) % len(PARTNERS)]
        self.customer = f"{self.partner}-C{rnd.randrange(CUSTOMERS_PER_PARTNER):04d}"
        self.offer = rnd.choice(OFFERS)
        self.term, self.cycle = rnd.choice(PLANS)
        self.quantity = rnd.randint(1, 5)
        change = rnd.choices(["none", "add", "cancel", "renew_off", "term"], weights=[55, 15, 10, 10, 10])[0]
        self.change = "none" if change == "term" and self.term != "P1M" else change

    @property
    def start(self) -> date:
        return WAVES[self.wave].date()

    def expected(self) -> Counter[tuple[str, date]]:
        """(charge type, order date) of every line 2026 should hold for this subscription."""
        s, d1, d2 = self.start, self.start + DAY, self.start + 2 * DAY
        lines = Counter({("new", s): 1})
        if self.change == "cancel":
            return lines + Counter({("cancelImmediate", d1): 1})
        if self.change == "add":
            lines[("addQuantity", d1)] += 2  # wipe and recreate
        if self.change == "term":  # P1M → P1Y monthly from d2: a new term whose cycles count from d2
            lines[("changeBillingPlan", d2)] += 2
            lines.update(("cycleCharge", c) for c in self._every_month(d2))
        elif self.term == "P1M":
            if self.change != "renew_off":
                lines.update(("renew", r) for r in self._renewals())
        elif self.cycle == "monthly":
            lines.update(("cycleCharge", c) for c in self._every_month(s))
        return lines

    @staticmethod
    def _every_month(anchor: date) -> Iterator[date]:
        k = 1
        while (day := add_months(anchor, k)) <= YEAR_END:
            yield day
            k += 1

    def _renewals(self) -> Iterator[date]:
        term_start = self.start
        while (renewal := add_months(term_start, 1)) <= YEAR_END:  # term end (start + 1 month − 1 day) + 1 day
            yield renewal
            term_start = renewal


def fx_rates() -> dict[tuple[str, str, str], Decimal]:
    with open(SAMPLE_FX) as f:
        return {(r["month"], r["from_currency"], r["to_currency"]): D(r["rate"]) for r in csv.DictReader(f)}


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(D("0.01"), rounding=ROUND_DOWN)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, list[Sub], dict[str, float]]]:
    up = Up(tmp_path_factory.mktemp("book"), "--clock", "simulated", "--start", "2026-01-01T00:00:00Z")
    try:
        up.wait_for("nce is up at")
        subs, timings = [Sub(i) for i in range(SIZE)], {}
        started = time.monotonic()
        registrations = [command("partner.register", {"partner_id": p, "name": p, "billing_currency": c, "country": m})
                         for p, c, m in PARTNERS]
        registrations += [command("customer.register", {"partner_id": p, "customer_id": f"{p}-C{n:04d}",
                                                        "name": f"{p} customer {n}", "country": m})
                          for p, _, m in PARTNERS for n in range(CUSTOMERS_PER_PARTNER)]
        expect_applied(up, registrations[:len(PARTNERS)])
        expect_applied(up, registrations[len(PARTNERS):])
        for wave, at in enumerate(WAVES):
            mine = [s for s in subs if s.wave == wave]
            up.clock(at.isoformat())
            expect_applied(up, [command("subscription.purchase", {
                "customer_id": s.customer, "catalog_item_id": s.offer, "term_duration": s.term,
                "billing_cycle": s.cycle, "quantity": s.quantity, "subscription_id": s.id}) for s in mine])
            up.clock((at + DAY).isoformat())
            expect_applied(up, [change(s) for s in mine if s.change in ("add", "cancel", "renew_off")])
            up.clock((at + 2 * DAY).isoformat())
            expect_applied(up, [command("subscription.change_term", {
                "subscription_id": s.id, "term_duration": "P1Y", "billing_cycle": "monthly"})
                for s in mine if s.change == "term"])
        timings["purchases and changes"] = time.monotonic() - started
        started = time.monotonic()
        for month in range(3, 14):
            up.clock(f"{2026 + month // 13}-{month % 12 or 12:02d}-01T00:00:00Z")
        timings["clock to 2027-01-01"] = time.monotonic() - started
        yield up, subs, timings
    finally:
        up.stop()


def change(s: Sub) -> Any:
    if s.change == "add":
        return command("subscription.change_quantity", {"subscription_id": s.id, "quantity": s.quantity + 2})
    if s.change == "cancel":
        return command("subscription.cancel", {"subscription_id": s.id})
    return command("subscription.set_auto_renew", {"subscription_id": s.id, "enabled": False})


def expect_applied(up: Up, commands: list[Any]) -> None:
    for i in range(0, len(commands), 2000):
        chunk = commands[i:i + 2000]
        outcomes = asyncio.run(send_many(up.bootstrap(), chunk, timeout=300, signed_by=up.signer()))
        failed = {k: (v or {}).get("data") for k, v in outcomes.items() if v is None or v["type"].endswith("rejected")}
        assert not failed, list(failed.items())[:5]


def test_a_year_of_the_book_bills_exactly_the_lines_the_model_predicts(book: tuple[Up, list[Sub], dict]) -> None:
    up, subs, timings = book
    lines = [line for p, _, _ in PARTNERS for line in up.get(f"/billing/lines?partner_id={p}")["lines"]]
    in_2026 = [line for line in lines if date.fromisoformat(line["order_date"]) <= YEAR_END]
    found: dict[str, Counter[tuple[str, date]]] = defaultdict(Counter)
    for line in in_2026:
        found[line["subscription_id"]][(line["charge_type"], date.fromisoformat(line["order_date"]))] += 1
    wrong = [(s.id, s.term, s.cycle, s.change, s.expected() - found[s.id], found[s.id] - s.expected())
             for s in subs if found[s.id] != s.expected()]
    assert not wrong, wrong[:3]
    assert set(found) == {s.id for s in subs}
    print(f"\nbook of {SIZE} subscriptions, {len(in_2026)} lines in 2026: " +
          ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


def test_every_amount_is_the_rounded_down_unit_price_converted_at_its_months_rate(book: tuple[Up, list[Sub], dict]) -> None:
    up, subs, _ = book
    rates, refunds = fx_rates(), {"cancelImmediate"}
    by_sub = {s.id: s for s in subs}
    for p, currency, _ in PARTNERS:
        for line in up.get(f"/billing/lines?partner_id={p}")["lines"]:
            month = line["order_date"][:7]
            fx = D(1) if line["pricing_currency"] == currency else rates[(month, line["pricing_currency"], currency)]
            assert line["currency"] == currency and D(line["fx_rate"]) == fx, line
            assert abs(D(line["amount"])) == cents(D(line["effective_unit_price"]) * fx) * line["quantity"], line
            if line["charge_type"] in refunds:
                assert D(line["amount"]) < 0, line
            elif line["charge_type"] in ("new", "renew", "cycleCharge"):
                sub = by_sub[line["subscription_id"]]
                added = 2 if sub.change == "add" and line["charge_type"] != "new" else 0
                assert D(line["amount"]) >= 0 and line["quantity"] == sub.quantity + added, line
    fx_lines = up.get("/billing/lines?partner_id=PFX")["lines"]
    assert fx_lines and {(r["pricing_currency"], r["currency"]) for r in fx_lines} == {("USD", "GBP")}


def test_twelve_invoices_per_partner_equal_their_reconciliation_files(book: tuple[Up, list[Sub], dict]) -> None:
    up, _, _ = book
    for p, currency, _ in PARTNERS:
        lines_total = D(0)
        for month in range(1, 13):
            invoice = up.get(f"/billing/invoices/{p}/2026-{month:02d}")
            assert (invoice["status"], invoice["invoice_number"]) == ("issued", f"NCE-2026{month:02d}-{p}")
            recon = list(csv.DictReader(io.StringIO(up.get_text(
                f"/billing/invoices/{p}/2026-{month:02d}/reconciliation.csv"))))
            recomputed: dict[str, Decimal] = defaultdict(Decimal)
            for row in recon:
                recomputed[row["Currency"]] += D(row["Total"])
                assert row["OrderDate"][:7] == f"2026-{month:02d}", row  # nothing slipped into another month
            assert {c: D(t) for c, t in invoice["totals"].items()} == dict(recomputed) and set(recomputed) == {currency}
            assert invoice["line_count"] == len(recon)
            lines_total += recomputed[currency]
        year = [line for line in up.get(f"/billing/lines?partner_id={p}")["lines"] if line["order_date"] < "2027"]
        assert lines_total == sum(D(line["amount"]) for line in year)

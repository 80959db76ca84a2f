"""A renewal wave of 5,000 monthly subscriptions under faults: services SIGKILLed at random moments, the broker cut
off for 30 s, PostgreSQL stopped and started — and after each, nothing lost, nothing doubled.

The book: 5,000 P1M monthly subscriptions of three partners (USD in the US, GBP in GB, and a GBP partner whose
customers are in the USD-only US market, so its lines are converted at each month's FX rate), bought on 2026-01-01.
Every 1st of the month all 5,000 terms end together: the scheduler fires them as one `scheduler.terms_ended` per
customer (450 customers), the subscription service renews each term and announces a customer's renewals in one
`subscription.terms_renewed`, billing charges each renewal and closes the month's invoices. Each test runs one
wave (Feb 1, Mar 1, Apr 1) with its fault; the waves before it, if not yet run, run without one. After the wave:
- every subscription renewed exactly once per wave: once in the `subscription.terms_renewed` events (distinct ids;
  a re-published copy of the same id is the relay's at-least-once, absorbed by the consumers' inbox), its term as
  the API shows it, and its next term end timed by the scheduler;
- every expected charge line present exactly once, with the amount recomputed here from the sample's price list and
  FX rates (ROUNDDOWN(price × FX, 2) × quantity), and one `billing.charge_created` per line;
- every invoice equal to the sum of the model's lines of its month, issued once per closed month;
- no dead letter and no rejected command anywhere.
The model is written here, not imported: it must not share the code it checks.
"""
import asyncio
import csv
import json
import random
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from services.send import command, send_many
from shared.settings import SERVICES
from tests.conftest import SIGNER
from tests.faults.conftest import FIGURES, FaultSystem
from tests.kafka import read

pytestmark = pytest.mark.e2e
D = Decimal
SIZE = 5000
SAMPLE = Path(__file__).parents[2] / "services" / "sample"
PARTNERS = [("PUS", "USD", "US"), ("PGB", "GBP", "GB"), ("PFX", "GBP", "US")]
CUSTOMERS = 150  # per partner
OFFERS = ["CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL", "CFQ7TTC0LCHC:0001:CFQ7TTC0K8TS"]
BOUGHT = date(2026, 1, 1)
WAVES = [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
SCHEMAS = SERVICES


class Sub:
    def __init__(self, i: int) -> None:
        rnd = random.Random(i)
        self.id = f"F{i:05d}"
        self.partner, self.currency, self.market = PARTNERS[i % len(PARTNERS)]
        self.customer = f"{self.partner}-C{(i // len(PARTNERS)) % CUSTOMERS:03d}"
        self.offer = rnd.choice(OFFERS)
        self.quantity = rnd.randint(1, 5)

    def lines(self, upto: date) -> Counter[tuple[str, date]]:
        """(charge type, order date) of every line the book should hold by `upto`: the purchase and each renewal."""
        return Counter([("new", BOUGHT)] + [("renew", w) for w in WAVES if w <= upto])


def _day(text: str) -> date:
    month, day, year = (int(x) for x in text.split(" ")[0].split("/"))
    return date(year, month, day)


class Prices:
    """The sample's P1M monthly rows and FX rates, read from the files (§2.3: of overlapping rows, the one whose
    range closes first; a partner is priced in its own currency where the market has rows in it)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], list[tuple[date, date, Decimal]]] = defaultdict(list)
        for market in ("US", "GB"):
            with open(SAMPLE / f"pricelist-{market}.csv") as f:
                for r in csv.DictReader(f):
                    if (r["TermDuration"], r["BillingPlan"]) == ("P1M", "Monthly"):
                        offer = f"{r['ProductId']}:{int(r['SkuId']):04d}"
                        self.rows[(offer, market, r["Currency"])].append(
                            (_day(r["EffectiveStartDate"]), _day(r["EffectiveEndDate"]), D(r["UnitPrice"])))
        with open(SAMPLE / "fx-rates.csv") as f:
            self.fx = {(r["month"], r["from_currency"], r["to_currency"]): D(r["rate"]) for r in csv.DictReader(f)}

    def amount(self, sub: Sub, day: date) -> Decimal:
        offer = sub.offer.rsplit(":", 1)[0]
        pricing = sub.currency if (offer, sub.market, sub.currency) in self.rows else "USD"
        *_, price = min((r for r in self.rows[(offer, sub.market, pricing)] if r[0] <= day <= r[1]),
                                key=lambda r: r[1])
        rate = D(1) if pricing == sub.currency else self.fx[(f"{day:%Y-%m}", pricing, sub.currency)]
        return (price * rate).quantize(D("0.01"), rounding=ROUND_DOWN) * sub.quantity


BOOK = [Sub(i) for i in range(SIZE)]
PRICES = Prices()


@pytest.fixture(scope="module")
def book(faulty: FaultSystem) -> FaultSystem:
    """Partners, customers and the 5,000 purchases, each applied."""
    started = time.monotonic()
    registrations = [command("partner.register", {"partner_id": p, "name": p, "billing_currency": c, "country": m})
                     for p, c, m in PARTNERS]
    customers = [command("customer.register", {"partner_id": p, "customer_id": f"{p}-C{n:03d}", "name": f"{p} {n}",
                                                "country": m}) for p, _, m in PARTNERS for n in range(CUSTOMERS)]
    purchases = [command("subscription.purchase", {
        "customer_id": s.customer, "catalog_item_id": s.offer, "term_duration": "P1M", "billing_cycle": "monthly",
        "quantity": s.quantity, "subscription_id": s.id}) for s in BOOK]
    for batch in (registrations, customers, purchases):
        for i in range(0, len(batch), 2500):
            outcomes = asyncio.run(send_many(faulty.bootstrap, batch[i:i + 2500], timeout=300, signed_by=SIGNER))
            failed = [(k, v) for k, v in outcomes.items() if v is None or v["type"].endswith("rejected")]
            assert not failed, failed[:3]
    FIGURES.append(f"set-up: system started, sample loaded and {SIZE} subscriptions bought in "
                   f"{time.monotonic() - faulty.started:.0f} s (the purchases {time.monotonic() - started:.0f} s)")
    return faulty


def run_wave(faults: FaultSystem, wave: date, fault: Any) -> dict[str, Any]:
    """Run the waves before `wave` not yet run (without faults); then move the clock to `wave` in the background
    while `fault(faults, progress, mover)` strikes, and wait until the clock stands there, settled."""
    for earlier in (w for w in WAVES if w < wave and faults.fetchval("SELECT now FROM nce_sim.clock").date() < w):
        faults.advance(f"{earlier}T00:00:00+00:00")
    faults.advance(faults.fetchval("SELECT now FROM nce_sim.clock").isoformat())  # settled: the wave alone is counted

    def progress() -> int:
        """Renewals billed so far in this wave."""
        return int(faults.fetchval(f"SELECT count(*) FROM billing.charge_lines WHERE order_date = '{wave}'"
                                   " AND charge_type = 'renew'"))

    processed_before = inbox_total(faults)
    faults.clock_retries.clear()
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        mover = pool.submit(faults.advance, f"{wave}T00:00:00+00:00")
        report = fault(faults, progress, mover)
        mover.result(900)  # raises what the clock's mover raised
    faults.wait_ready()  # every service up again
    report["wall_s"] = time.monotonic() - started
    report["processed"] = inbox_total(faults) - processed_before
    report["clock_retries"] = Counter(faults.clock_retries)
    return report


def inbox_total(faults: FaultSystem) -> int:
    return int(sum(faults.fetchval(f"SELECT count(*) FROM {s}.inbox") for s in SCHEMAS))


async def events(bootstrap: str, topic: str, at_least: int) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in await read(bootstrap, topic, until=at_least, timeout=60, settle=1.0)]


def verify(faults: FaultSystem, upto: date) -> dict[str, int]:
    """Every check of the module's docstring at clock `upto`; returns the losses, duplicates and counts found."""
    started, waves = time.monotonic(), [w for w in WAVES if w <= upto]
    losses, doubled = Counter[str](), Counter[str]()

    # Charge lines: each expected one present once, at the recomputed amount.
    lines = [line for p, _, _ in PARTNERS for line in faults.get("billing", f"/billing/lines?partner_id={p}")["lines"]]
    found: dict[str, Counter[tuple[str, date]]] = defaultdict(Counter)
    for line in lines:
        found[line["subscription_id"]][(line["charge_type"], date.fromisoformat(line["order_date"]))] += 1
    by_id = {s.id: s for s in BOOK}
    for s in BOOK:
        losses["charge lines"] += sum((s.lines(upto) - found[s.id]).values())
        doubled["charge lines"] += sum((found[s.id] - s.lines(upto)).values())
    wrong = [line for line in lines if D(line["amount"]) != PRICES.amount(by_id[line["subscription_id"]],
                                                                          date.fromisoformat(line["order_date"]))]
    assert not wrong, wrong[:3]

    # Renewals: one distinct event per subscription and wave, the term the API shows, the next term end timed.
    customers = len(PARTNERS) * CUSTOMERS  # at least one renewal event per customer and wave
    renewed = asyncio.run(events(faults.bootstrap, "nce.subscription.events", SIZE + customers * len(waves)))
    renewals = Counter((r["subscription_id"], r["term_start"])
                       for e in {e["id"]: e for e in renewed if e["type"] == "subscription.terms_renewed"}.values()
                       for r in e["data"]["renewals"])
    expected_renewals = Counter((s.id, f"{w}") for s in BOOK for w in waves)
    losses["renewals"] += sum((expected_renewals - renewals).values())
    doubled["renewals"] += sum((renewals - expected_renewals).values())
    term_start = waves[-1] if waves else BOUGHT
    next_start = date(term_start.year + term_start.month // 12, term_start.month % 12 + 1, 1)
    terms = Counter[tuple[str, str, str]]()
    for p, _, _ in PARTNERS:
        for n in range(CUSTOMERS):
            for sub in faults.get("subscription", f"/subscriptions?customer_id={p}-C{n:03d}")["subscriptions"]:
                terms[(sub["status"], sub["term_start"], sub["term_end"])] += 1
    assert terms == {("active", f"{term_start}", f"{next_start - timedelta(days=1)}"): SIZE}, terms.most_common(3)
    losses["timers"] += SIZE - faults.fetchval(
        f"SELECT count(*) FROM scheduler.timers WHERE kind = 'term_end' AND due_at = '{next_start}T00:00:00Z'")

    # Billing's events: one charge_created per line, one invoice_issued per partner and closed month.
    billed = asyncio.run(events(faults.bootstrap, "nce.billing.events", len(lines)))
    distinct = {e["id"]: e for e in billed}
    charged = Counter(e["data"]["line_id"] for e in distinct.values() if e["type"] == "billing.charge_created")
    losses["charge events"] += len({line["line_id"] for line in lines} - set(charged))
    doubled["charge events"] += sum(n - 1 for n in charged.values())
    issued = Counter((e["data"]["partner_id"], e["data"]["month"]) for e in distinct.values()
                     if e["type"] == "billing.invoice_issued")
    closed = [f"{m:%Y-%m}" for m in [BOUGHT, *waves][:len(waves)]]
    losses["invoices"] += sum(1 for p, _, _ in PARTNERS for m in closed if issued[(p, m)] == 0)
    doubled["invoices"] += sum(n - 1 for n in issued.values())

    # Invoices: every month's totals equal the model's lines of that month.
    for p, currency, _ in PARTNERS:
        for month in [BOUGHT, *waves]:
            invoice = faults.get("billing", f"/billing/invoices/{p}/{month:%Y-%m}")
            model = sum((PRICES.amount(s, month) for s in BOOK if s.partner == p), D(0))
            status = "issued" if f"{month:%Y-%m}" in closed else "open"
            assert (invoice["status"], {c: D(t) for c, t in invoice["totals"].items()}) == \
                   (status, {currency: model}), (p, month, invoice)

    dead = sum(faults.fetchval(f"SELECT count(*) FROM {s}.dead_letters") for s in SCHEMAS)
    rejected = sum(faults.fetchval(f"SELECT count(*) FROM {s}.rejections") for s in SCHEMAS)
    assert (dead, rejected) == (0, 0), "dead-lettered or rejected messages: see the services' /ops reads"
    assert not +losses and not +doubled, (dict(losses), dict(doubled))
    republished = (len(renewed) - len({e["id"] for e in renewed})) + (len(billed) - len(distinct))
    return {"lines": len(lines), "verify_s": time.monotonic() - started, "renewals": sum(renewals.values()), "republished": republished,
            "losses": sum(losses.values()), "duplicates": sum(doubled.values())}


def figures(title: str, report: dict[str, Any], checked: dict[str, int]) -> None:
    FIGURES.append(
        f"{title}: {report['fault']}; wave of {SIZE} renewals settled in {report['wall_s']:.0f} s "
        f"(clock requests failed and sent again: {dict(report['clock_retries']) or 'none'}); {report['processed']} messages "
        f"processed in the wave; book: {checked['renewals']} renewals, {checked['lines']} charge lines, every "
        f"invoice as recomputed; {checked['republished']} re-published copies absorbed by the inboxes so far; "
        f"losses = {checked['losses']}, duplicates = {checked['duplicates']} (checked in {checked['verify_s']:.0f} s)")


def test_services_killed_at_random_moments_mid_wave_lose_and_double_nothing(book: FaultSystem) -> None:
    rnd = random.Random()
    kills: list[str] = []

    def kill_at_random(faults: FaultSystem, progress: Any, mover: Future[None]) -> dict[str, Any]:
        schedule = rnd.sample(SERVICES, len(SERVICES)) + rnd.sample(SERVICES, len(SERVICES))
        for name in schedule:  # ten kills, each while the wave still runs (it lasts ~12–90 s)
            time.sleep(rnd.uniform(0.1, 0.7))
            assert not mover.done(), f"the wave was over after {len(kills)} kills ({kills}): not all landed mid-wave"
            faults.kill_and_restart(name)
            kills.append(name)
        return {"fault": f"{len(kills)} SIGKILLs mid-wave ({', '.join(f'{n} ×{c}' for n, c in Counter(kills).items())})"}

    report = run_wave(book, WAVES[0], kill_at_random)
    assert len(kills) >= 10 and set(kills) == set(SERVICES)
    figures("SIGKILL", report, verify(book, WAVES[0]))


def test_broker_cut_off_for_30_seconds_mid_wave_loses_and_doubles_nothing(book: FaultSystem) -> None:
    def cut_broker(faults: FaultSystem, progress: Any, mover: Future[None]) -> dict[str, Any]:
        done = wait_for_progress(progress, mover)
        faults.proxy.cut()
        time.sleep(30)
        faults.proxy.open()
        return {"fault": f"broker unreachable for 30 s from {done} of {SIZE} renewals billed"}

    report = run_wave(book, WAVES[1], cut_broker)
    figures("broker outage", report, verify(book, WAVES[1]))


def test_postgres_restarted_mid_wave_loses_and_doubles_nothing(book: FaultSystem) -> None:
    def restart_postgres(faults: FaultSystem, progress: Any, mover: Future[None]) -> dict[str, Any]:
        done = wait_for_progress(progress, mover)
        faults.restart_postgres(down_s=10)
        return {"fault": f"PostgreSQL stopped for 10 s and started again from {done} of {SIZE} renewals billed"}

    report = run_wave(book, WAVES[2], restart_postgres)
    figures("PostgreSQL restart", report, verify(book, WAVES[2]))


def wait_for_progress(progress: Any, mover: Future[None]) -> int:
    """Wait until a tenth of the wave is billed; the fault must land mid-wave."""
    while (done := progress()) < SIZE // 10:
        assert not mover.done(), "the wave ended before the fault"
        time.sleep(0.1)
    assert done < SIZE, "the wave ended before the fault"
    return done

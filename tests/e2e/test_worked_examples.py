"""The worked examples of domain.md §3 and §4 (Partner Center's S12 billing scenarios) through the running system.

Each scenario is driven by commands under the simulated clock and read back as charge lines over HTTP. The offers
and prices are the examples' own (M365 Business Standard at EUR 10.08 a month, Office 365 E1 at EUR 6.43, a
Guides-like product at EUR 52.61 with a 25-seat trial), imported here as an offer matrix and a DE price list.
"""
import json
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal

import pytest

from tests.up import Up

pytestmark = pytest.mark.e2e
D = Decimal
STD, E1, GUIDES, TRIAL = ("WORKEDEXASTD:0001:AAAAAAAAAAAA", "WORKEDEXAE01:0001:BBBBBBBBBBBB",
                          "WORKEDEXGUID:0001:CCCCCCCCCCCC", "WORKEDEXGUID:0002:DDDDDDDDDDDD")
E3 = "WORKEDEXAE03:0001:EEEEEEEEEEEE"
OFFERS = """products:
  - {product_id: WORKEDEXASTD, title: Example Business Standard, kind: license, segment: commercial, skus: [
      {sku_id: "0001", availability_id: AAAAAAAAAAAA, title: Example Business Standard, markets: [DE],
       plans: ["P1M:monthly", "P1Y:monthly", "P1Y:annual"], min_quantity: 1, max_quantity: 1000,
       upgrade_targets: ["WORKEDEXAE01:0001"]}]}
  - {product_id: WORKEDEXAE01, title: Example E1, kind: license, segment: commercial, skus: [
      {sku_id: "0001", availability_id: BBBBBBBBBBBB, title: Example E1, markets: [DE],
       plans: ["P1M:monthly", "P1Y:monthly"], min_quantity: 1, max_quantity: 1000,
       upgrade_targets: ["WORKEDEXAE03:0001"]}]}
  - {product_id: WORKEDEXAE03, title: Example E3, kind: license, segment: commercial, skus: [
      {sku_id: "0001", availability_id: EEEEEEEEEEEE, title: Example E3, markets: [DE], plans: ["P1Y:monthly"],
       min_quantity: 1, max_quantity: 1000}]}
  - {product_id: WORKEDEXGUID, title: Example Guides, kind: license, segment: commercial, skus: [
      {sku_id: "0001", availability_id: CCCCCCCCCCCC, title: Example Guides, markets: [DE],
       plans: ["P1M:monthly", "P1Y:monthly"], min_quantity: 1, max_quantity: 1000},
      {sku_id: "0002", availability_id: DDDDDDDDDDDD, title: Example Guides Trial, markets: [DE],
       plans: ["P1M:none"], min_quantity: 25, max_quantity: 25, trial: true}]}
"""
HEADER = ("ProductTitle,ProductId,SkuId,SkuTitle,Publisher,SkuDescription,UnitOfMeasure,TermDuration,BillingPlan,"
          "Market,Currency,UnitPrice,PricingTierRangeMin,PricingTierRangeMax,EffectiveStartDate,EffectiveEndDate,Tags,"
          "ERP Price,EndofSaleDate,Segment")
PRICES = [("WORKEDEXASTD", "0001", "P1M", "Monthly", "10.08"), ("WORKEDEXASTD", "0001", "P1Y", "Monthly", "120.96"),
          ("WORKEDEXASTD", "0001", "P1Y", "Annual", "120.96"), ("WORKEDEXAE01", "0001", "P1M", "Monthly", "6.43"),
          ("WORKEDEXAE01", "0001", "P1Y", "Monthly", "77.16"), ("WORKEDEXAE03", "0001", "P1Y", "Monthly", "120.00"),
          ("WORKEDEXGUID", "0001", "P1M", "Monthly", "52.61"), ("WORKEDEXGUID", "0001", "P1Y", "Monthly", "631.32"),
          ("WORKEDEXGUID", "0002", "P1M", "None", "0")]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    data = tmp_path_factory.mktemp("worked")
    system = Up(data / "up", "--clock", "simulated", "--start", "2021-01-31T10:00:00Z")
    try:
        system.wait_for("nce is up at")
        (data / "offers.yaml").write_text(OFFERS)
        (data / "prices.csv").write_text("\n".join([HEADER, *(
            f"Example,{p},{s},Example,Microsoft Corporation,Example,1 License,{t},{c},DE,EUR,{price},1,999999,"
            f"1/1/2020,12/31/9999,{'Trial' if price == '0' else 'License'},{price},,Commercial"
            for p, s, t, c, price in PRICES)]) + "\n")
        cli(system, "catalog", "import", str(data / "offers.yaml"), "--kafka", system.bootstrap())
        database = json.loads((system.data_dir / "up.json").read_text())["database_url"]
        cli(system, "pricelist", "import", str(data / "prices.csv"), "--market", "DE", "--database", database)
        system.send("partner.register", {"partner_id": "EP", "name": "EP", "billing_currency": "EUR", "country": "DE"})
        system.send("customer.register", {"partner_id": "EP", "customer_id": "EC", "name": "EC", "country": "DE"})
        yield system
    finally:
        system.stop()


def cli(up: Up, *args: str) -> None:
    done = up.nce(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def at(up: Up, instant: str) -> None:
    up.post("/clock", {"to": instant})


def command(up: Up, type_: str, **data: object) -> dict:  # type: ignore[type-arg]
    code, out = up.send(type_, data)
    assert code == 0, out["data"]
    return out["data"]  # type: ignore[no-any-return]


def buy(up: Up, sid: str, item: str, quantity: int, term: str = "P1M", cycle: str = "monthly", **kw: object) -> dict:  # type: ignore[type-arg]
    return command(up, "subscription.purchase", customer_id="EC", catalog_item_id=item, term_duration=term,
                   billing_cycle=cycle, quantity=quantity, subscription_id=sid, **kw)


def lines(up: Up, sid: str, expected: int) -> list[dict]:  # type: ignore[type-arg]
    return up.eventually(f"/billing/lines?subscription_id={sid}", lambda b: len(b["lines"]) >= expected)["lines"]  # type: ignore[no-any-return]


def shown(rows: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
    return [(r["charge_type"], r["charge_start"], r["charge_end"], r["quantity"], r["amount"]) for r in rows]


def test_month_end_anchors_clamp_terms_and_cycles_section_4_2(up: Up) -> None:
    assert buy(up, "W-P1M", STD, 1)["term_end"] == "2021-02-27"  # §3.1: 2021-01-31 P1M → 2021-02-27
    buy(up, "W-ANCHOR", STD, 1, "P1Y", "monthly")  # 120.96 a year: 10.08 a monthly cycle
    at(up, "2021-04-01T00:00:00Z")
    # §4.2: a 2021-01-31 anchor gives cycles 01-31→02-27, 02-28→03-30, 03-31→04-29
    assert shown(lines(up, "W-ANCHOR", 3)) == [
        ("new", "2021-01-31", "2021-02-27", 1, "10.08"), ("cycleCharge", "2021-02-28", "2021-03-30", 1, "10.08"),
        ("cycleCharge", "2021-03-31", "2021-04-29", 1, "10.08")]
    # a P1M term renews the day after its inclusive end; the renewed term counts from its own start
    assert shown(lines(up, "W-P1M", 3))[:3] == [
        ("new", "2021-01-31", "2021-02-27", 1, "10.08"), ("renew", "2021-02-28", "2021-03-27", 1, "10.08"),
        ("renew", "2021-03-28", "2021-04-27", 1, "10.08")]


def test_s12_full_and_partial_upgrades_refund_23_of_30_days_and_charge_the_target_for_them(up: Up) -> None:
    at(up, "2021-06-18T09:00:00Z")
    buy(up, "W-FULL", STD, 300)
    buy(up, "W-PART", STD, 300)
    at(up, "2021-06-25T09:00:00Z")
    command(up, "subscription.transition", subscription_id="W-FULL", target_catalog_item_id=E1, quantity=300)
    moved = command(up, "subscription.transition", subscription_id="W-PART", target_catalog_item_id=E1, quantity=100)
    full = lines(up, "W-FULL", 3)
    assert [(r["catalog_item_id"], *s) for r, s in zip(full, shown(full), strict=True)] == [
        (STD, "new", "2021-06-18", "2021-07-17", 300, "3024.00"),
        (STD, "convert", "2021-06-25", "2021-07-17", 300, "-2316.00"),  # 10.08 / 30 × 23 = 7.728 → 7.72 × 300
        (E1, "convert", "2021-06-25", "2021-07-17", 300, "1476.00")]  # 6.43 / 30 × 23 = 4.9296 → 4.92 × 300
    assert full[1]["reference_id"] == full[2]["reference_id"] != full[0]["reference_id"]
    child = moved["target"]["subscription_id"]
    source, target = lines(up, "W-PART", 2), lines(up, child, 1)
    assert shown(source)[1:] == [("convert", "2021-06-25", "2021-07-17", 100, "-772.00")]
    assert [(r["catalog_item_id"], *s) for r, s in zip(target, shown(target), strict=True)] == [
        (E1, "convert", "2021-06-25", "2021-07-17", 100, "492.00")]
    assert source[1]["reference_id"] == target[0]["reference_id"]


def test_s12_a_trial_converted_the_day_it_started(up: Up) -> None:
    buy(up, "W-TRIAL", TRIAL, 25, "P1M", "none")  # at 2021-06-25
    command(up, "subscription.convert_trial", subscription_id="W-TRIAL", catalog_item_id=GUIDES, quantity=25,
            term_duration="P1M", billing_cycle="monthly")
    rows = lines(up, "W-TRIAL", 3)
    assert [(r["charge_type"], r["unit_price"], r["quantity"], r["amount"], r["charge_end"]) for r in rows] == [
        ("new", "0.000000", 25, "0.00", "2021-07-24"), ("convert", "0.000000", 25, "0.00", "2021-07-24"),
        ("convert", "52.610000", 25, "1315.25", "2021-07-24")]  # 52.61 / 30 × 30 × 25
    recon = up.get_text("/billing/invoices/EP/2021-06/reconciliation.csv")
    assert recon.count('"[""Trial""]"') == 2  # the free lines carry the Trial qualifier, the paid one not


def test_a_trial_converted_into_an_existing_subscription_charges_only_the_seats_it_adds(up: Up) -> None:
    up.send("customer.register", {"partner_id": "EP", "customer_id": "EC2", "name": "EC2", "country": "DE"})
    command(up, "subscription.purchase", customer_id="EC2", catalog_item_id=GUIDES, term_duration="P1M",
            billing_cycle="monthly", quantity=5, subscription_id="W-EXIST")  # at 2021-06-25
    command(up, "subscription.purchase", customer_id="EC2", catalog_item_id=TRIAL, term_duration="P1M",
            billing_cycle="none", quantity=25, subscription_id="W-TRIAL2")
    at(up, "2021-07-03T09:00:00Z")
    command(up, "subscription.convert_trial", subscription_id="W-TRIAL2", quantity=25,
            target_subscription_id="W-EXIST")
    assert shown(lines(up, "W-EXIST", 2)) == [
        ("new", "2021-06-25", "2021-07-24", 5, "263.05"),
        ("convert", "2021-07-03", "2021-07-24", 25, "964.50")]  # 52.61 / 30 × 22 = 38.5806… → 38.58 × 25
    assert shown(lines(up, "W-TRIAL2", 2))[1] == ("convert", "2021-07-03", "2021-07-24", 25, "0.00")


def test_s12_a_cancellation_on_the_third_day_refunds_29_of_31_days(up: Up) -> None:
    at(up, "2021-07-15T09:00:00Z")
    buy(up, "W-CANCEL", STD, 10)
    at(up, "2021-07-17T09:00:00Z")
    command(up, "subscription.cancel", subscription_id="W-CANCEL")
    assert shown(lines(up, "W-CANCEL", 2)) == [("new", "2021-07-15", "2021-08-14", 10, "100.80"),
                                               ("cancelImmediate", "2021-07-17", "2021-08-14", 10, "-94.20")]


def test_a_custom_term_end_date_charges_the_short_first_term_pro_rata_section_3_7(up: Up) -> None:
    at(up, "2021-07-20T09:00:00Z")
    # calendar-aligned: P1M to the end of the purchase month, P1Y to the last day of the 11th month after it
    assert buy(up, "W-COTERM-M", STD, 4, custom_term_end_date="2021-07-31")["term_end"] == "2021-07-31"
    assert buy(up, "W-COTERM-Y", STD, 2, "P1Y", "annual", custom_term_end_date="2022-06-30")["term_end"] == "2022-06-30"
    cut = lambda x: x.quantize(D("0.01"), rounding=ROUND_DOWN)  # noqa: E731
    # 12 of the standard cycle's 31 days (07-20→08-19); 346 of the standard year's 365 days (07-20→2022-07-19)
    assert shown(lines(up, "W-COTERM-M", 1)) == [
        ("new", "2021-07-20", "2021-07-31", 4, str(cut(D("10.08") * 12 / 31) * 4))]  # 3.90 × 4
    assert shown(lines(up, "W-COTERM-Y", 1)) == [
        ("new", "2021-07-20", "2022-06-30", 2, str(cut(D("120.96") * 346 / 365) * 2))]  # 114.66 × 2
    at(up, "2021-08-01T00:00:00Z")  # the next term is full length and starts the day after
    assert shown(lines(up, "W-COTERM-M", 2))[1] == ("renew", "2021-08-01", "2021-08-31", 4, "40.32")


def test_an_upgrades_target_is_charged_only_for_its_parents_cycles_from_the_upgrade_on_section_4_2(up: Up) -> None:
    at(up, "2021-08-10T09:00:00Z")
    buy(up, "W-CYCLES", STD, 10, "P1Y", "monthly")  # cycles from the 10th: 10.08 a cycle
    at(up, "2021-11-20T09:00:00Z")  # three cycles in: 09-10, 10-10, 11-10 charged
    moved = command(up, "subscription.transition", subscription_id="W-CYCLES", target_catalog_item_id=E1, quantity=4,
                    term_duration="P1Y", billing_cycle="monthly")
    child = moved["target"]["subscription_id"]
    at(up, "2021-12-15T09:00:00Z")  # the parent's next cycle (12-10) charged the child too, from its anchor
    # the child's cycles are its parent's: its first charge runs to 12-09, the next cycle starts 12-10; none before
    assert shown(lines(up, child, 2)) == [
        ("convert", "2021-11-20", "2021-12-09", 4, "17.12"),  # 6.43 / 30 × 20 = 4.2866… → 4.28 × 4
        ("cycleCharge", "2021-12-10", "2022-01-09", 4, "25.72")]
    assert shown(lines(up, "W-CYCLES", 6))[4:] == [
        ("convert", "2021-11-20", "2021-12-09", 4, "-26.88"), ("cycleCharge", "2021-12-10", "2022-01-09", 6, "60.48")]
    # the child upgraded in full keeps its parent's cycles (anchored on the 10th, not on its own start, the 20th)
    command(up, "subscription.transition", subscription_id=child, target_catalog_item_id=E3, quantity=4)
    at(up, "2022-01-21T00:00:00Z")
    assert shown(lines(up, child, 5))[2:] == [
        ("convert", "2021-12-15", "2022-01-09", 4, "-21.56"),  # 6.43 / 31 × 26 = 5.3929… → 5.39 × 4
        ("convert", "2021-12-15", "2022-01-09", 4, "33.52"),  # 10.00 / 31 × 26 = 8.387… → 8.38 × 4
        ("cycleCharge", "2022-01-10", "2022-02-09", 4, "40.00")]


def test_a_subscription_emptied_into_an_existing_one_is_charged_no_more_cycles(up: Up) -> None:
    at(up, "2022-02-01T09:00:00Z")
    buy(up, "W-INTO", E1, 5, "P1Y", "monthly")
    buy(up, "W-EMPTY", STD, 3, "P1Y", "monthly")
    at(up, "2022-02-10T09:00:00Z")  # both out of their windows: every seat of W-EMPTY moves into W-INTO
    command(up, "subscription.transition", subscription_id="W-EMPTY", target_catalog_item_id=E1, quantity=3,
            target_subscription_id="W-INTO")
    at(up, "2022-03-02T00:00:00Z")
    assert shown(lines(up, "W-EMPTY", 2)) == [
        ("new", "2022-02-01", "2022-02-28", 3, "30.24"),
        ("moveQuantity", "2022-02-10", "2022-02-28", 3, "-20.52")]  # 10.08 / 28 × 19 = 6.84 × 3; no 0-seat cycles after
    assert shown(lines(up, "W-INTO", 3))[1:] == [
        ("moveQuantity", "2022-02-10", "2022-02-28", 3, "13.08"),  # 6.43 / 28 × 19 = 4.3632… → 4.36 × 3
        ("cycleCharge", "2022-03-01", "2022-03-31", 8, "51.44")]

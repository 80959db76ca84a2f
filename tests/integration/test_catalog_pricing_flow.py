"""Catalog and pricing as running services: imports by the command line, events between services, HTTP reads."""
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.system import System
from tests.conftest import COMMAND_KEY, OPERATOR, SIGNER
from tests.sample import OFFERS, SAMPLE

pytestmark = pytest.mark.integration
BASIC, STANDARD, E1, E3 = (OFFERS[k] for k in ("CFQ7TTC0LH18:0001", "CFQ7TTC0LDPB:0001", "CFQ7TTC0LF8Q:0001",
                                                "CFQ7TTC0LF8R:0001"))
TEAMS, LEGACY, ADDON = OFFERS["CFQ7TTC0MBMJ:0001"], OFFERS["CFQ7TTC0HHS9:0001"], OFFERS["CFQ7TTC0LHXG:0001"]


def nce(*args: str) -> subprocess.CompletedProcess[str]:
    signing = {"NCE_COMMAND_ISSUER": SIGNER.issuer, "NCE_COMMAND_SIGNING_KEY": COMMAND_KEY}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **signing})


@pytest.fixture(scope="module")
def system(module_stack) -> Iterator[System]:  # type: ignore[no-untyped-def]
    system = System(module_stack.env(), module_stack.log_dir, services=("catalog", "pricing", "subscription"))
    system.start()
    try:
        system.wait_ready()
        loaded = nce("catalog", "import", str(SAMPLE / "offers.yaml"), "--kafka", module_stack.bootstrap)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert "17 offers, 2 EOS rules; 19 applied, 0 rejected" in loaded.stdout
        for market in ("US", "DE"):
            done = nce("pricelist", "import", str(SAMPLE / f"pricelist-{market}.csv"), "--market", market,
                       "--database", module_stack.database_url)
            assert done.returncode == 0, done.stderr
        for kind, name in (("promotions", "promotions.yaml"), ("fx", "fx-rates.csv")):
            assert nce(kind, "import", str(SAMPLE / name), "--database", module_stack.database_url).returncode == 0
        yield system
    finally:
        system.stop()


def get(system: System, service: str, path: str, status: int = 200, **params: Any) -> Any:
    response = httpx.get(system.url(service) + path, params=params, timeout=10, headers=OPERATOR)
    assert response.status_code == status, response.text
    return response.json()


def eventually(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def listed(system: System, market: str, at: str) -> dict[str, list[tuple[str, str]]]:
    items = get(system, "catalog", "/catalog/items", market=market, at=at)["items"]
    return {i["catalog_item_id"]: [(p["term_duration"], p["billing_cycle"]) for p in i["plans"]] for i in items}


def test_the_catalog_lists_what_is_purchasable_in_a_market_at_an_instant(system: System) -> None:
    now = listed(system, "US", "2026-11-21T00:00:00Z")
    assert len(now) == 16 and LEGACY not in now  # a legacy offer is known but never purchasable
    items = {i["catalog_item_id"]: i for i in get(system, "catalog", "/catalog/items", market="US",
                                                   at="2026-11-21T00:00:00Z")["items"]}
    assert items[ADDON]["flags"]["addon"] and items[OFFERS["CFQ7TTC0LCHC:0002"]]["flags"]["trial"]
    assert E1 in listed(system, "US", "2026-12-31T23:59:59Z")
    assert E1 not in listed(system, "US", "2027-01-01T00:00:00Z")  # EndOfSale from 00:00Z of its date


def test_eos_scope_precedence_blocks_only_the_narrow_scope(system: System) -> None:
    before, after = listed(system, "US", "2026-12-14T12:00:00Z"), listed(system, "US", "2026-12-15T00:00:00Z")
    assert ("P1M", "monthly") in before[E3] and ("P1M", "monthly") not in after[E3]
    assert ("P1Y", "annual") in after[E3]  # the rest of the offer stays purchasable
    assert ("P1M", "monthly") in listed(system, "DE", "2026-12-15T00:00:00Z")[E3]


def test_an_offer_past_its_eos_date_stays_known_with_its_state_and_upgrade_targets(system: System) -> None:
    item = get(system, "catalog", f"/catalog/items/{E1}", at="2027-02-01T00:00:00Z")
    assert {s["state"] for s in item["eos"]} == {"EndOfSale"}
    assert item["upgrade_targets"] == ["CFQ7TTC0LF8R:0001", "CFQ7TTC0LFLX:0001"]


def test_eos_dates_found_in_a_price_list_reach_the_catalog(system: System) -> None:
    def has_price_list_rule() -> None:
        rules = get(system, "catalog", f"/catalog/items/{E3}")["eos_rules"]
        assert {"state": "EndOfSaleWithConversions", "effective_date": "2026-12-15", "sku_id": "0001",
                "market": "US", "term_duration": "P1M", "billing_cycle": "monthly"} in rules
    eventually(has_price_list_rule)


def quote(system: System, status: int = 200, **params: Any) -> Any:
    base = {"term_duration": "P1Y", "billing_cycle": "annual", "market": "US", "currency": "USD", "quantity": "5"}
    return get(system, "pricing", "/pricing/quote", status, **{**base, **params})


def test_overlapping_rows_pick_the_one_closing_first(system: System) -> None:
    assert quote(system, catalog_item_id=STANDARD, at="2026-12-02T00:00:00Z")["unit_price"] == "150.000000"
    assert quote(system, catalog_item_id=STANDARD, at="2026-12-04T00:00:00Z")["unit_price"] == "165.000000"


def test_an_open_1753_row_prices_any_date(system: System) -> None:
    q = quote(system, catalog_item_id=TEAMS, at="1990-06-01T00:00:00Z")
    assert q["row"]["effective_start"] == "1753-01-01"


def test_a_european_market_prices_each_partner_currency_from_its_own_row(system: System) -> None:
    sek = quote(system, catalog_item_id=BASIC, market="DE", currency="SEK", billing_cycle="monthly")
    eur = quote(system, catalog_item_id=BASIC, market="DE", currency="EUR", billing_cycle="monthly")
    assert (sek["pricing_currency"], sek["fx_rate"], eur["pricing_currency"]) == ("SEK", "1", "EUR")
    assert sek["unit_price"] != eur["unit_price"]


def test_promotions_apply_when_they_match_and_silently_not_when_they_do_not(system: System) -> None:
    matching = quote(system, catalog_item_id=BASIC, at="2026-01-10T00:00:00Z")
    assert matching["promotion"]["discount"] == "0.15"  # the deeper of two overlapping promotions
    assert matching["effective_unit_price"] == "61.20000000"
    monthly = quote(system, catalog_item_id=BASIC, billing_cycle="monthly", at="2026-01-10T00:00:00Z")
    assert monthly["promotion"] is None and monthly["effective_unit_price"] == monthly["unit_price"]
    too_many = quote(system, catalog_item_id=BASIC, quantity="301", at="2026-01-10T00:00:00Z")
    assert too_many["promotion"] is None
    school = quote(system, catalog_item_id=BASIC, segment="education", at="2026-01-10T00:00:00Z")
    assert school["promotion"] is None  # §1.7: the promotions are commercial ones
    assert "segment must be one of commercial" in quote(system, 400, catalog_item_id=BASIC, segment="Schools")["error"]


def test_quotes_for_unknown_things_are_specific_4xx(system: System) -> None:
    assert "unknown offer" in quote(system, 404, catalog_item_id="AAAAAAAAAAAA:0001:AAAAAAAAAAAA")["error"]
    assert "no prices in market JP" in quote(system, 404, catalog_item_id=BASIC, market="JP")["error"]
    assert "no JPY price in US" in quote(system, 422, catalog_item_id=BASIC, currency="JPY")["error"]
    assert "currency must be an ISO 4217 code" in quote(system, 400, catalog_item_id=BASIC, currency="dollars")["error"]
    assert "catalog_item_id must be" in quote(system, 400, catalog_item_id="nope")["error"]


def test_reloading_the_offer_matrix_changes_no_revision_and_a_bad_offer_is_rejected(system, module_stack) -> None:  # type: ignore[no-untyped-def]
    before = get(system, "catalog", f"/catalog/items/{BASIC}")["revision"]
    again = nce("catalog", "import", str(SAMPLE / "offers.yaml"), "--kafka", module_stack.bootstrap)
    assert again.returncode == 0 and get(system, "catalog", f"/catalog/items/{BASIC}")["revision"] == before
    bad = nce("send", "catalog.publish_offer", "--kafka", module_stack.bootstrap, "--data",
              '{"catalog_item_id": "CFQ7TTC0ZZZZ:1:CFQ7TTC0ZZZZ", "product_title": "X", "sku_title": "X",'
              ' "markets": ["US"], "plans": [{"term_duration": "P1M", "billing_cycle": "annual"}]}')
    assert bad.returncode == 1 and '"code": "900270"' in bad.stdout


async def test_a_redeemed_promotion_is_not_offered_again_to_that_customer(system, module_stack) -> None:  # type: ignore[no-untyped-def]
    from shared.contracts.envelope import new_envelope
    from tests.kafka import publish
    import uuid
    from datetime import UTC, datetime

    created = {"subscription_id": "S-promo", "partner_id": "P1", "customer_id": "C-promo", "catalog_item_id": BASIC,
               "term_duration": "P1Y", "billing_cycle": "annual", "quantity": 5, "auto_renew": True,
               "term_start": "2026-01-10", "term_end": "2027-01-09",
               "cancellation_allowed_until": "2026-01-17T00:00:00Z", "unit_price": "72", "currency": "USD",
               "market": "US", "promotion_id": "39NFJQT1PJQB:0001:39NFJQT1Q5KN"}
    event = new_envelope(id=uuid.uuid4(), type="subscription.created", data=created, occurred_at=datetime.now(UTC),
                         source="subscription")
    await publish(module_stack.bootstrap, "nce.subscription.events", [(b"C-promo", event.to_bytes())])

    def falls_back_to_the_next_promotion() -> None:
        q = quote(system, catalog_item_id=BASIC, at="2026-02-01T00:00:00Z", customer_id="C-promo")
        assert q["promotion"]["promotion_id"] == "39NFJQT1Q0C7:0001:39NFJQT1Q0C8"
    eventually(falls_back_to_the_next_promotion)
    other = quote(system, catalog_item_id=BASIC, at="2026-02-01T00:00:00Z", customer_id="C-other")
    assert other["promotion"]["promotion_id"] == "39NFJQT1PJQB:0001:39NFJQT1Q5KN"

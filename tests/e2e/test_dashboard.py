"""The operations dashboard in a real browser (Debian's headless Chromium driven by Selenium) against a running
system with the sample data: the numbers shown are the API's, a click reaches a subscription, and screenshots are
kept in `test-artifacts/` (or NCE_ARTIFACTS)."""
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from shared.infra import free_port
from tests.sample import OFFERS
from tests.up import Up

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(os.environ.get("NCE_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
E1, E3 = OFFERS["CFQ7TTC0LF8Q:0001"], OFFERS["CFQ7TTC0LF8R:0001"]  # End-of-Sale 2027-01-01; E3 US P1M 2026-12-15
BUSINESS_BASIC = OFFERS["CFQ7TTC0LH18:0001"]
BOOK = [  # (id, offer, term, plan, seats, auto-renew)
    ("S-E3-MONTHLY", E3, "P1M", "monthly", 10, True), ("S-E3-YEAR", E3, "P1Y", "monthly", 4, True),
    ("S-E1", E1, "P1Y", "annual", 25, False), ("S-BASIC", BUSINESS_BASIC, "P1M", "monthly", 3, False),
]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    system = Up(tmp_path_factory.mktemp("dash"), "--clock", "simulated", "--start", "2026-10-01T09:00:00Z")
    try:
        system.wait_for("nce is up at")
        system.send("partner.register", {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD",
                                         "country": "US"})
        system.send("customer.register", {"partner_id": "P1", "customer_id": "C1", "name": "Fabrikam", "country": "US"})
        for sid, offer, term, plan, seats, renew in BOOK:
            code, out = system.send("subscription.purchase", {
                "customer_id": "C1", "catalog_item_id": offer, "term_duration": term, "billing_cycle": plan,
                "quantity": seats, "auto_renew": renew, "subscription_id": sid})
            assert code == 0, out
        code, out = system.send("subscription.change_quantity", {"subscription_id": "S-E1", "quantity": 0})
        assert code == 1, out
        system.post("/clock", {"to": "2026-11-05T00:00:00Z"})  # October's invoice issued, S-E3-MONTHLY renewed
        code, out = system.send("subscription.purchase", {  # to expire within 30 days
            "customer_id": "C1", "catalog_item_id": BUSINESS_BASIC, "term_duration": "P1M", "billing_cycle": "monthly",
            "quantity": 2, "auto_renew": False, "subscription_id": "S-BASIC-NOV"})
        assert code == 0, out
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Debian's chromium and chromium-driver are needed: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2400"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def shown(browser: webdriver.Chrome, testid: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text


def loaded(browser: webdriver.Chrome, up: Up) -> None:
    browser.get("about:blank")
    browser.get_log("browser")  # what earlier pages logged
    browser.get(f"{up.url}/dashboard#token={up.token()}")
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "updated").text != "never")


def test_without_a_token_the_page_asks_for_one(up: Up, browser: webdriver.Chrome) -> None:
    browser.get(f"{up.url}/dashboard")
    browser.execute_script("sessionStorage.clear(); location.reload()")
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.ID, "token"))
    assert "bearer token is required" in browser.find_element(By.ID, "login").text


def test_the_overview_shows_what_the_api_says(up: Up, browser: webdriver.Chrome) -> None:
    loaded(browser, up)
    summary, due7, due30 = up.get("/subscriptions/summary"), up.get("/subscriptions/due?days=7"), up.get(
        "/subscriptions/due?days=30")
    assert (summary["total"], summary["by_status"]) == (5, {"active": 4, "expired": 1})
    assert (due7["renewals"], due7["expiries"], due30["renewals"], due30["expiries"]) == (0, 0, 1, 1)
    assert shown(browser, "clock") == "2026-11-05T00:00:00Z (simulated)"
    assert int(shown(browser, "kpi-subscriptions")) == summary["total"]
    assert int(shown(browser, "kpi-active")) == summary["by_status"]["active"]
    assert int(shown(browser, "kpi-renewals-7")) == due7["renewals"]
    assert int(shown(browser, "kpi-renewals-30")) == due30["renewals"]
    assert int(shown(browser, "kpi-expiries-30")) == due30["expiries"]
    rejections = up.get("/ops/rejections")
    assert int(shown(browser, "kpi-rejections")) == rejections["total"] >= 1
    assert int(shown(browser, "kpi-dead-letters")) == up.get("/ops/dead-letters")["total"]

    offers = browser.find_elements(By.CSS_SELECTOR, '[data-testid="table-offers"] tbody tr')
    assert len(offers) == len(summary["by_offer"]) == 3
    assert "Office 365 E3" in browser.find_element(By.CSS_SELECTOR, '[data-testid="table-offers"]').text
    bars = browser.find_elements(By.CSS_SELECTOR, '[data-testid="chart-renewals"] rect')
    assert sum(int(b.get_attribute("data-value")) for b in bars) == due30["renewals"] + due30["expiries"]

    impact = up.get("/subscriptions/eos-impact")["dates"]
    dates = browser.find_elements(By.CSS_SELECTOR, "[data-eos-date]")
    assert [d.get_attribute("data-eos-date") for d in dates] == [d["date"] for d in impact] == ["2026-12-15",
                                                                                                 "2027-01-01"]
    assert [int(d.find_element(By.CSS_SELECTOR, '[data-testid="eos-affected"]').text) for d in dates] == [
        d["subscriptions"] for d in impact] == [1, 1]  # S-E3-MONTHLY (US P1M only), S-E1
    for date, shown_date in zip(impact, dates, strict=True):
        for target in date["affected"][0]["transition_targets"]:
            assert target in shown_date.text
    billing = up.get("/billing/summary")
    [p1] = billing["partners"]
    row = browser.find_element(By.CSS_SELECTOR, '[data-testid="table-billing"] tbody tr').text
    assert f"{p1['unbilled']['USD']} USD" in row and p1["last_invoices"][0]["invoice_number"] in row
    assert "NCE-202610-P1" in row
    revenue = browser.find_elements(By.CSS_SELECTOR, '[data-testid="chart-revenue"] rect')
    assert len(revenue) == len(billing["revenue"]) >= 2  # October and November, in USD
    codes = browser.find_element(By.CSS_SELECTOR, '[data-testid="table-rejections"]').text
    assert all(r["code"] in codes for r in rejections["by_code"])
    services = browser.find_elements(By.CSS_SELECTOR, '[data-testid="table-services"] tbody tr')
    assert len(services) == 5 and all("not ready" not in s.text and " ready" in f" {s.text}" for s in services)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard-overview.png"))


def test_a_click_leads_to_the_subscription_and_its_charges(up: Up, browser: webdriver.Chrome) -> None:
    loaded(browser, up)
    link = browser.find_element(By.CSS_SELECTOR, '[data-testid="table-due"] a[data-subscription="S-E3-MONTHLY"]')
    link.click()
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="subscription-detail"]'))
    api = up.get("/subscriptions/S-E3-MONTHLY")
    for field in ("status", "quantity", "term_end", "catalog_item_id"):
        assert browser.find_element(By.CSS_SELECTOR, f'[data-field="{field}"]').text == str(api[field])
    lines = up.get("/billing/lines?subscription_id=S-E3-MONTHLY")["lines"]
    rows = browser.find_elements(By.CSS_SELECTOR, '[data-testid="table-lines"] tbody tr')
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [ln["charge_type"] for ln in lines] == [
        "new", "renew"]
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard-subscription.png"))


def test_nce_gateway_serves_the_dashboard_and_the_api_on_its_own_in_front_of_the_services(up: Up) -> None:
    urls = json.loads((up.data_dir / "up.json").read_text())["services"]
    port = free_port()
    env = {**os.environ, "NCE_OPERATOR_TOKEN": up.token()}
    urls_args = [arg for n, u in urls.items() for arg in ("--service-url", f"{n}={u}")]
    alone = subprocess.Popen([sys.executable, "-m", "services.cli", "gateway", "--port", str(port), *urls_args],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/ops/status", headers=up.auth(), timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and alone.poll() is None, "nce gateway did not start"
                time.sleep(0.3)
        assert status.status_code == 200 and all(s["ready"] for s in status.json()["services"].values())
        assert httpx.get(f"http://127.0.0.1:{port}/ops/status", timeout=5).status_code == 401
        assert "nce operations" in httpx.get(f"http://127.0.0.1:{port}/dashboard", timeout=5).text
        summary = httpx.get(f"http://127.0.0.1:{port}/subscriptions/summary", headers=up.auth(), timeout=5).json()
        assert summary == up.get("/subscriptions/summary")
    finally:
        alone.terminate()
        alone.wait(10)

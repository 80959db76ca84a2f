"""The walking skeleton across all five services, driven the way a user drives it: `nce up` and `nce send`."""
import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.infra import free_port
from tests.kafka import read
from tests.up import Up

pytestmark = pytest.mark.e2e
OFFER = "NCETESTPROD1:0001:NCETESTAVAIL"  # not in the sample, so the sample's prices don't apply
PARTNER_TOKENS = {"P1": "p1-token-0123456789abcdef", "P2": "p2-token-0123456789abcdef"}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    system = Up(tmp_path_factory.mktemp("up"), env={"NCE_PARTNER_TOKENS": json.dumps(PARTNER_TOKENS)})
    try:
        system.wait_for("nce is up at")
        yield system
    finally:
        system.stop()


def test_nce_up_loads_the_sample_on_first_start(up: Up) -> None:
    assert "offers.yaml: 17 offers, 2 EOS rules; 19 applied, 0 rejected" in up.output()
    assert (up.data_dir / "sample-loaded").exists()
    items = up.get("/catalog/items?market=DE&at=2026-11-21T00:00:00Z")["items"]
    assert len(items) == 16 and all(not i["flags"]["legacy"] for i in items)  # the legacy entry is US-only
    quote = up.get("/pricing/quote?catalog_item_id=CFQ7TTC0LH18:0001:CFQ7TTC0K971&term_duration=P1Y"
                   "&billing_cycle=annual&market=US&currency=USD&quantity=1&at=2026-01-10T00:00:00Z")
    assert quote["promotion"]["discount"] == "0.15"


def test_a_purchase_flows_from_nce_send_to_a_charge_line(up: Up) -> None:
    offer = {"catalog_item_id": "NCETESTPROD1:1:NCETESTAVAIL", "product_title": "Skeleton Test Suite",
             "sku_title": "Business Basic", "markets": ["US"], "min_quantity": 1, "max_quantity": 300,
             "plans": [{"term_duration": "P1Y", "billing_cycle": "monthly"}]}
    assert up.send("catalog.publish_offer", offer)[1]["type"] == "catalog.offer_published"
    price = {"product_id": "NCETESTPROD1", "sku_id": "1", "market": "US", "currency": "USD", "term_duration": "P1Y",
             "billing_cycle": "monthly", "unit_price": "72.00", "effective_start": "2020-01-01",
             "effective_end": "9999-12-31"}
    assert up.send("pricing.set_price", price)[1]["type"] == "pricing.prices_published"
    assert up.send("partner.register", {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD",
                                        "country": "US"})[0] == 0
    assert up.send("customer.register", {"partner_id": "P1", "customer_id": "C1", "name": "Fabrikam",
                                         "country": "US"})[0] == 0

    purchase = {"customer_id": "C1", "catalog_item_id": OFFER, "term_duration": "P1Y", "billing_cycle": "monthly",
                "quantity": 5, "subscription_id": "S-e2e"}
    code, created = up.send("subscription.purchase", purchase)
    assert code == 0 and created["type"] == "subscription.created"
    assert created["data"]["subscription_id"] == "S-e2e"

    deadline = time.monotonic() + 30
    while not (lines := up.get("/billing/lines?subscription_id=S-e2e")["lines"]):
        assert time.monotonic() < deadline, "no charge line within 30 s"
        time.sleep(0.2)
    [line] = lines
    assert (line["charge_type"], line["quantity"], line["amount"], line["currency"]) == ("new", 5, "30.00", "USD")
    assert line["charge_start"] == created["data"]["term_start"]

    [timer] = up.eventually("/scheduler/timers?key=S-e2e", lambda body: len(body["timers"]) == 1)["timers"]
    assert timer["kind"] == "term_end" and timer["due_at"].startswith(created["data"]["term_end"][:4])
    assert up.get("/subscriptions/S-e2e")["status"] == "active"


def test_reads_need_a_bearer_token_and_a_partner_sees_only_its_own(up: Up) -> None:
    token = up.token()
    assert f"dashboard: {up.url}/dashboard#token={token}" in up.output()  # generated, printed with the URL
    bare = httpx.get(up.url + "/subscriptions/S-e2e", timeout=5)
    assert bare.status_code == 401 and "bearer token is required" in bare.json()["error"]
    assert bare.headers["www-authenticate"].startswith("Bearer")
    assert up.get("/subscriptions/S-e2e", 401, token="not-a-token-at-all-0000")["error"] == "the bearer token is not valid"
    for open_path in ("/healthz", "/readyz", "/metrics", "/dashboard"):
        assert httpx.get(up.url + open_path, timeout=5).status_code == 200, open_path

    p1, p2 = PARTNER_TOKENS["P1"], PARTNER_TOKENS["P2"]
    assert up.get("/subscriptions/S-e2e", token=p1)["partner_id"] == "P1"
    assert up.get("/subscriptions/S-e2e", 404, token=p2) == {"error": "unknown subscription"}
    assert up.get("/subscriptions?customer_id=C1", token=p2)["subscriptions"] == []
    assert len(up.get("/subscriptions?customer_id=C1", token=p1)["subscriptions"]) == 1
    assert up.get("/billing/lines?subscription_id=S-e2e", token=p2)["lines"] == []
    assert len(up.get("/billing/lines?subscription_id=S-e2e", token=p1)["lines"]) == 1
    assert up.get("/billing/lines?partner_id=P1", 404, token=p2) == {"error": "unknown partner"}
    assert up.get("/billing/invoices/P1/2026-11", 404, token=p2) == {"error": "unknown partner"}
    assert up.get("/subscriptions/summary", token=p2)["total"] == 0
    assert up.get("/subscriptions/summary", token=p1)["total"] == up.get("/subscriptions/summary?partner_id=P1")["total"]
    assert len(up.get("/catalog/items?market=US", token=p2)["items"]) > 0  # the catalog is every partner's
    for operator_read in ("/scheduler/timers", "/ops/rejections", "/ops/dead-letters", "/ops/status"):
        assert "operator token" in up.get(operator_read, 403, token=p2)["error"], operator_read
    refused = httpx.post(up.url + "/clock", json={"to": "2030-01-01T00:00:00Z"}, headers=up.auth(p2), timeout=5)
    assert refused.status_code == 403


def test_unknown_customer_or_offer_is_rejected_with_a_code_and_exit_1(up: Up) -> None:
    code, outcome = up.send("subscription.purchase", {"customer_id": "NOBODY", "catalog_item_id": OFFER,
                                                      "term_duration": "P1Y", "billing_cycle": "monthly", "quantity": 1})
    assert code == 1 and outcome["data"]["code"] == "UNKNOWN_CUSTOMER"
    code, outcome = up.send("subscription.purchase", {"customer_id": "C1", "catalog_item_id": "AAAAAAAAAAAA:1:AAAAAAAAAAAA",
                                                      "term_duration": "P1Y", "billing_cycle": "monthly", "quantity": 1})
    assert code == 1 and outcome["data"]["code"] == "10001"
    metrics = httpx.get(up.url + "/metrics", timeout=5).text
    assert ('nce_commands_rejected_total{code="10001",service="subscription",type="subscription.purchase"} 1.0'
            in metrics)
    assert 'nce_events_total{service="subscription",type="customer.registered"}' in metrics
    assert 'faststream_received_messages_total{app_name="nce-subscription"' in metrics  # FastStream's middleware
    rejections = up.get("/ops/rejections")
    assert {"service": "subscription", "type": "subscription.purchase", "code": "10001", "n": 1}.items() <= [
        r for r in rejections["by_code"] if r["code"] == "10001"][0].items()
    assert rejections["latest"][0]["message"] == outcome["data"]["message"]


def test_metrics_show_each_service_s_consumer_lag_and_the_scheduler_s_timers(up: Up) -> None:
    families = {f.name: f for f in text_string_to_metric_families(up.get_text("/metrics"))}
    lag = {(s.labels["service"], s.labels["topic"]): s.value for s in families["nce_consumer_lag"].samples}
    assert {service for service, _ in lag} == {"catalog", "pricing", "subscription", "billing", "scheduler"}
    assert ("billing", "nce.subscription.events") in lag and all(0 <= v < 1000 for v in lag.values())
    [due] = families["nce_timers_due"].samples
    [late] = families["nce_timers_late_seconds"].samples
    assert due.value >= 0 and 0 <= late.value < 60


def test_resending_a_command_id_has_no_second_effect(up: Up) -> None:
    data = {"partner_id": "P1", "customer_id": "C2", "name": "Northwind", "country": "US"}
    command_id = "5f0c0a52-8a8e-4c1e-9d59-8a3b2f0f6c11"
    first = up.send("customer.register", data, id=command_id)[1]
    time.sleep(6)  # re-sent later than `nce send` reads back for a new command, after other events
    assert up.send("customer.register", {**data, "partner_id": "P-NONE", "customer_id": "C-NONE"})[0] == 1
    again = up.send("customer.register", {**data, "name": "Renamed"}, id=command_id)[1]
    assert again["id"] == first["id"]  # the one outcome there is, found again
    duplicate = 'nce_messages_handled_total{outcome="duplicate",service="subscription",type="customer.register"} 1.0'
    deadline = time.monotonic() + 10
    while duplicate not in httpx.get(up.url + "/metrics", timeout=5).text:
        assert time.monotonic() < deadline, "the re-sent command was not seen as a duplicate"
        time.sleep(0.2)
    events = asyncio.run(read(up.bootstrap(), "nce.subscription.events", until=1, settle=1.0))
    caused = [json.loads(r.value) for r in events if json.loads(r.value)["causation_id"] == command_id]
    assert len(caused) == 1
    assert up.get("/subscriptions?customer_id=C2")["subscriptions"] == []
    assert first["data"]["name"] == "Northwind"


def test_a_crashed_service_is_restarted_and_logged(up: Up) -> None:
    [billing] = [p for p in psutil.Process(up.proc.pid).children() if "billing" in p.cmdline()]
    billing.send_signal(signal.SIGKILL)
    up.wait_for("billing exited with code -9; restarting", timeout=30)
    deadline = time.monotonic() + 60
    while httpx.get(up.url + "/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_under_the_system_clock_time_can_be_neither_read_nor_moved(up: Up) -> None:
    assert "production time" in up.get("/clock", 404)["error"]
    assert "production time" in up.post("/clock", {"to": "2030-01-01T00:00:00Z"}, 409)["error"]


def test_a_second_nce_up_says_one_is_running(up: Up) -> None:
    second = subprocess.run([sys.executable, "-m", "services.cli", "up", "--port", str(free_port()), "--data-dir",
                             str(up.data_dir)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "already running" in second.stdout


def test_ctrl_c_stops_everything_with_no_stray_process(up: Up) -> None:
    family = psutil.Process(up.proc.pid).children(recursive=True)
    assert len(family) >= 6  # five services and the broker
    up.proc.send_signal(signal.SIGINT)
    assert up.proc.wait(60) == 0
    time.sleep(1)
    assert [p for p in family if _alive(p)] == []
    assert not any(str(up.data_dir) in " ".join(p.cmdline()) for p in psutil.process_iter() if _alive(p))
    assert "stopped." in up.output()


def test_sigterm_stops_everything_the_database_too(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`kill`, systemd and container runtimes stop with SIGTERM: the same clean stop as Ctrl-C, the embedded
    PostgreSQL (not a child of `nce up`) included."""
    system = Up(tmp_path_factory.mktemp("sigterm"), "--no-sample")
    try:
        system.wait_for("nce is up at")
        system.proc.send_signal(signal.SIGTERM)
        assert system.proc.wait(60) == 0
        time.sleep(1)
        assert not any(str(system.data_dir) in " ".join(p.cmdline()) for p in psutil.process_iter() if _alive(p))
        assert "stopped." in system.output()
    finally:
        system.stop()


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

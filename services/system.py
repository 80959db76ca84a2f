"""The five services as supervised child processes: used by `nce up` and by the end-to-end tests."""
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.infra import free_ports, stack_child
from shared.settings import SERVICES

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0


@dataclass
class System:
    env: dict[str, str]
    log_dir: Path
    services: tuple[str, ...] = SERVICES
    children: dict[str, Child] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name, port in zip(self.services, free_ports(len(self.services)), strict=True):
            self.children[name] = Child(name, port)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.children[name].port}"

    def start(self, name: str | None = None, extra_env: dict[str, str] | None = None) -> None:
        for child in [self.children[name]] if name else self.children.values():
            env = {**os.environ, **self.env, "NCE_HTTP_PORT": str(child.port), **(extra_env or {})}
            out = open(self.log_dir / f"{child.name}.log", "ab")  # noqa: SIM115 (the child keeps it)
            child.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", child.name],
                env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=stack_child(signal.SIGTERM),
            )
            out.close()
            child.started_at = time.monotonic()

    def wait_ready(self, timeout: float = 60.0, names: tuple[str, ...] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for name in names or self.services:
            while True:
                child = self.children[name]
                if child.proc is not None and child.proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {child.proc.returncode}; see {self.log_dir}/{name}.log")
                try:
                    ready = httpx.get(self.url(name) + "/readyz", timeout=3)
                    if ready.status_code == 200 and ready.json().get("service") == name:  # not another's port
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready after {timeout}s; see {self.log_dir}/{name}.log")
                time.sleep(0.2)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        proc = self.children[name].proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.wait(15)

    def supervise_once(self) -> list[str]:
        """Restart any child that died on its own; return the names restarted."""
        restarted = []
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                if time.monotonic() - child.started_at < min(10.0, 2.0**child.restarts):  # crash loop: back off
                    continue
                child.restarts += 1
                log.warning("%s exited with code %s; restarting (restart #%d)", child.name, code, child.restarts)
                self.start(child.name)
                restarted.append(child.name)
        return restarted

    def stop(self, timeout: float = 15.0) -> None:
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %ss; killing it", child.name, timeout)
                child.proc.kill()
                child.proc.wait()

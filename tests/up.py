"""Driving a real `nce up` process from tests, the way a user drives it."""
import atexit
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.infra import claim_scratch_dir, free_port, remove_tree
from shared.messaging.signing import Signer


class Up:
    def __init__(self, log_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        # The system's data lives outside pytest's temp root: a pytest session starting meanwhile makes that root
        # private again (0700), which locks the embedded PostgreSQL (run as another system user) out of its files.
        self.data_dir = claim_scratch_dir("nce-e2e-")
        atexit.register(remove_tree, self.data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = log_dir / "up.out"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "up", "--port", str(self.port), "--data-dir",
                 str(self.data_dir), *extra],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, f"nce up exited {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout}s:\n{self.output()}"
            time.sleep(0.2)

    def bootstrap(self) -> str:
        return json.loads((self.data_dir / "up.json").read_text())["kafka_bootstrap"]

    def signer(self) -> Signer:
        """Who `nce send` signs as against this system (nce-cli, with the key `nce up` generated)."""
        return Signer("nce-cli", json.loads((self.data_dir / "up.json").read_text())["command_signing_key"])

    def token(self) -> str:
        """The operator token `nce up` generated (HTTP reads need a bearer token)."""
        return json.loads((self.data_dir / "up.json").read_text())["operator_token"]  # type: ignore[no-any-return]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token()}"}

    def nce(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run an `nce` command against this system, signing commands with the key `nce up` generated."""
        key = json.loads((self.data_dir / "up.json").read_text())["command_signing_key"]
        return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "NCE_COMMAND_SIGNING_KEY": key})

    def send(self, type_: str, data: dict, **kw: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        args = ["send", type_, "--data", json.dumps(data), "--kafka", self.bootstrap(), "--timeout", "30"]
        for k, v in kw.items():
            args += [f"--{k}", v]
        done = self.nce(*args, timeout=60)
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)

    def get(self, path: str, status: int = 200, token: str | None = None) -> dict:  # type: ignore[type-arg]
        response = httpx.get(self.url + path, timeout=10, headers=self.auth(token))
        assert response.status_code == status, response.text
        return response.json()  # type: ignore[no-any-return]

    def get_text(self, path: str) -> str:
        response = httpx.get(self.url + path, timeout=10, headers=self.auth())
        assert response.status_code == 200, response.text
        return response.text

    def post(self, path: str, body: dict, status: int = 200) -> dict:  # type: ignore[type-arg]
        response = httpx.post(self.url + path, json=body, timeout=600, headers=self.auth())
        assert response.status_code == status, response.text
        return response.json()  # type: ignore[no-any-return]

    def clock(self, to: str, patience: float = 900) -> dict:  # type: ignore[type-arg]
        """Move the simulated clock to `to`. A 504 says the system had not settled within the scheduler's own wait
        (a big wave on a busy machine); asking again resumes where the clock stands, as a user of `nce clock` would."""
        deadline = time.monotonic() + patience
        while True:
            response = httpx.post(self.url + "/clock", json={"to": to}, timeout=600, headers=self.auth())
            if response.status_code != 504 or time.monotonic() > deadline:
                assert response.status_code == 200, response.text
                return response.json()  # type: ignore[no-any-return]

    def eventually(self, path: str, check, timeout: float = 20) -> dict:  # type: ignore[no-untyped-def, type-arg]
        """GET `path` until `check(body)` holds: other services learn of a change by events, a moment later."""
        deadline = time.monotonic() + timeout
        while not check(body := self.get(path)):
            assert time.monotonic() < deadline, f"{path} never satisfied the check; last: {body}"
            time.sleep(0.2)
        return body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)

"""`nce send` against a broker it cannot reach: exit 2 and one line naming the address, no traceback."""
import os
import socket
import subprocess
import sys

from tests.conftest import COMMAND_KEY

PARTNER = '{"partner_id": "P1", "name": "P1", "billing_currency": "USD", "country": "US"}'


def test_an_unreachable_broker_exits_2_with_one_line_naming_the_bootstrap_address() -> None:
    with socket.socket() as closed:  # bound, never listening: a connection to it is refused
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
        env = {**os.environ, "NCE_COMMAND_SIGNING_KEY": COMMAND_KEY, "NCE_COMMAND_ISSUER": "tests"}
        done = subprocess.run([sys.executable, "-m", "services.cli", "send", "partner.register", "--data", PARTNER,
                               "--kafka", address, "--timeout", "5"], capture_output=True, text=True, timeout=60,
                              check=False, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1 and address in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

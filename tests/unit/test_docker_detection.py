"""No Docker engine is detected at once, even where something accepts every TCP connection."""
import socket
import threading
import time

import pytest

from shared.infra import docker_available


def test_no_socket_means_no_docker_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    started = time.monotonic()
    assert docker_available() is False
    assert time.monotonic() - started < 1.0


def test_a_listener_that_is_not_docker_is_not_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def accept_and_stay_silent() -> None:
        conn, _ = server.accept()
        time.sleep(2)
        conn.close()

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.getsockname()[1]}")
    started = time.monotonic()
    assert docker_available(timeout=0.5) is False
    assert time.monotonic() - started < 1.0
    server.close()

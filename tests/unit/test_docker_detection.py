"""Where the broker and database come from: settings, then testcontainers when a Docker engine answers, then the
embedded parts; and no Docker engine is detected at once, even where something accepts every TCP connection."""
import socket
import threading
import time

import pytest

from shared.infra import docker_available, plan


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


def test_an_engine_that_answers_ping_is_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_ping() -> None:
        conn, _ = server.accept()
        assert conn.recv(256).startswith(b"GET /_ping ")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        conn.close()

    threading.Thread(target=answer_ping, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.getsockname()[1]}")
    assert docker_available(timeout=2) is True
    server.close()


def never_asked() -> bool:
    raise AssertionError("Docker must not be asked when both are named")


@pytest.mark.parametrize(("kafka", "database", "docker", "expected"), [
    ("k:9092", "postgresql://db", never_asked, ("explicit", "explicit")),
    (None, None, lambda: True, ("testcontainers", "testcontainers")),
    (None, None, lambda: False, ("embedded", "embedded")),
    ("k:9092", None, lambda: True, ("explicit", "testcontainers")),
    (None, "postgresql://db", lambda: False, ("embedded", "explicit")),
])
def test_settings_then_containers_then_embedded(kafka, database, docker, expected) -> None:  # type: ignore[no-untyped-def]
    assert plan(kafka, database, docker) == expected


def test_ports_chosen_together_are_distinct() -> None:
    from shared.infra import free_ports

    for _ in range(50):  # one at a time, the kernel may hand out a just-released port again
        ports = free_ports(5)
        assert len(set(ports)) == 5

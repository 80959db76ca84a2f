"""Logs against the real database: the correlation ids of the message being handled in the log lines."""
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.send import command
from services.subscription.app import SERVICE as SUBSCRIPTION
from shared import logs
from shared.clock import SimulatedClock
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from tests.conftest import migrated_pool

pytestmark = pytest.mark.integration
COMMANDS = "nce.subscription.commands"
NOW = datetime(2025, 1, 15, 10, tzinfo=UTC)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the services' JSON formatter writes, for the duration of the test."""
    out, root = io.StringIO(), logging.getLogger()
    handler, level = logging.StreamHandler(out), root.level
    handler.setFormatter(logs.JsonFormatter("tests"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_rejected_command_is_logged_with_its_correlation_id(stack, json_lines: io.StringIO) -> None:
    pool = await migrated_pool(stack, "subscription")
    try:
        cmd = command("customer.register", {"partner_id": "NOPE", "customer_id": "C1", "name": "F", "country": "US"})
        consumer = Consumer(SUBSCRIPTION.handlers, pool, SimulatedClock(NOW), max_bytes=10_000)
        await consumer.handle(Record(COMMANDS, 0, 0, b"C1", cmd.to_bytes(), tuple(cmd.headers())))
    finally:
        await pool.close()
    [line] = [x for x in lines(json_lines) if "rejected customer.register" in x["message"]]
    assert line["correlation_id"] == str(cmd.id) and line["message_id"] == str(cmd.id)
    assert line["message_type"] == "customer.register" and "UNKNOWN_PARTNER" in line["message"]

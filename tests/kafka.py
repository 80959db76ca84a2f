"""Test-side Kafka helpers: publish raw records and read topics from the beginning."""
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from shared.contracts.envelope import OPERATOR, Actor, new_envelope
from shared.contracts.topics import BY_NAME
from shared.messaging.signing import Signer
from tests.conftest import SIGNER


def command(type_: str, data: dict[str, Any], *, id: uuid.UUID | None = None, actor: Actor | None = OPERATOR,
            version: int = 1) -> bytes:
    return new_envelope(id=id or uuid.uuid4(), type=type_, version=version, data=data,
                        occurred_at=datetime.now(UTC), source="tests", actor=actor).to_bytes()


def signature(value: bytes, signed_by: Signer | None = SIGNER) -> "Headers":
    """The authorization header the test systems accept for this command record (none when not a JSON envelope)."""
    try:
        envelope = json.loads(value)
        actor = Actor.model_validate(envelope["actor"]) if envelope.get("actor") else None
    except (ValueError, TypeError, KeyError, AttributeError, ValidationError):
        return []
    return [signed_by.header(value, actor, datetime.now(UTC))] if signed_by else []


Headers = list[tuple[str, bytes]]


Records = list[tuple[bytes | None, bytes] | tuple[bytes | None, bytes, Headers]]


async def publish(bootstrap: str, topic: str, records: Records, signed_by: Signer | None = SIGNER) -> None:
    """Publish (key, value) records in order; commands signed as the tests' publishing system unless told not to,
    or (key, value, headers) records with exactly those headers."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        for key, value, *given in records:
            headers = given[0] if given else signature(value, signed_by) if BY_NAME[topic].carries_commands else []
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str, *, until: int, timeout: float = 30.0,
               settle: float = 0.0) -> list[ConsumerRecord]:
    """Every record of `topic` from the beginning, once at least `until` arrived (then `settle` s more)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", metadata_max_age_ms=500,
                                fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        seen: list[ConsumerRecord] = []
        settle_until = None
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen.extend(records)
            if len(seen) >= until:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
        return seen
    finally:
        await consumer.stop()

"""Test-side Kafka helpers: publish raw records and read topics from the beginning."""
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.contracts.envelope import OPERATOR, Actor, new_envelope


def command(type_: str, data: dict[str, Any], *, id: uuid.UUID | None = None, actor: Actor | None = OPERATOR,
            version: int = 1) -> bytes:
    return new_envelope(id=id or uuid.uuid4(), type=type_, version=version, data=data,
                        occurred_at=datetime.now(UTC), source="tests", actor=actor).to_bytes()


async def publish(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    """Publish (key, value) records in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
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

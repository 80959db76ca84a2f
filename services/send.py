"""`nce send`: publish one command and wait for its one outcome event (matched by causation id)."""
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts import latest
from shared.contracts.envelope import OPERATOR, Actor, new_envelope
from shared.contracts.topics import events_topic_of
from shared.messaging.keys import command_key


class UsageError(Exception):
    pass


async def _outcome_consumer(bootstrap: str, topic: str, since_ms: int) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    # Tansu reports wrong end offsets, so position by time, not by "latest".
    found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
    for tp in partitions:
        if found.get(tp) is not None:
            consumer.seek(tp, found[tp].offset)
        else:
            await consumer.seek_to_beginning(tp)
    return consumer


async def send(
    bootstrap: str, type_: str, data: dict[str, Any], actor: Actor | None, message_id: uuid.UUID, timeout: float
) -> dict[str, Any] | None:
    """Publish the command and return its outcome envelope as a dict, or None on timeout."""
    try:
        spec = latest(type_)
    except KeyError:
        raise UsageError(f"unknown command type {type_!r}") from None
    if not spec.topic.carries_commands:
        raise UsageError(f"{type_} is an event, not a command")
    envelope = new_envelope(
        id=message_id, type=type_, version=spec.version, data=data, occurred_at=datetime.now(UTC),
        source="nce-cli", actor=actor or OPERATOR,
    )
    outcome_topic = events_topic_of(spec.topic).name
    consumer = await _outcome_consumer(bootstrap, outcome_topic, int(time.time() * 1000) - 5000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        key = command_key(spec.topic, data)
        await producer.send_and_wait(
            spec.topic.name, envelope.to_bytes(), key=key.encode() if key else None, headers=envelope.headers()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    try:
                        event = json.loads(r.value)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("causation_id") == str(message_id):
                        return event
        return None
    finally:
        await producer.stop()
        await consumer.stop()


def run_send(bootstrap: str, type_: str, data: dict[str, Any], actor: Actor | None, message_id: uuid.UUID,
             timeout: float) -> dict[str, Any] | None:
    return asyncio.run(send(bootstrap, type_, data, actor, message_id, timeout))

"""Publishing commands and waiting for their one outcome each (matched by causation id): `nce send`, imports."""
import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from shared import tracing
from shared.contracts import latest
from shared.contracts.envelope import OPERATOR, Actor, Envelope, new_envelope
from shared.contracts.topics import events_topic_of
from shared.messaging.kafka import connection
from shared.messaging.keys import command_key
from shared.messaging.signing import Signer
from shared.settings import CommandKeySettings, KafkaSettings


class UsageError(Exception):
    pass


class BrokerUnreachableError(Exception):
    """No broker answered at the bootstrap address."""


class _Refusals(logging.Filter):
    """Keeps aiokafka's line per address it could not connect to out of the output, remembering the last reason:
    the BrokerUnreachableError says it once."""

    reason = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Unable connect to") and len(record.args or ()) == 3:
            self.reason = str(record.args[2])  # type: ignore[index]
            return False
        return True


async def _start(client: AIOKafkaConsumer | AIOKafkaProducer, bootstrap: str) -> None:
    """Start a Kafka client; a broker it cannot reach is a BrokerUnreachableError naming the bootstrap address."""
    refusals, log = _Refusals(), logging.getLogger("aiokafka")
    log.addFilter(refusals)
    try:
        await client.start()
    except KafkaConnectionError:
        await client.stop()
        why = f" ({refusals.reason})" if refusals.reason else ""
        raise BrokerUnreachableError(f"no broker reachable at {bootstrap}{why}") from None
    finally:
        log.removeFilter(refusals)


def command(type_: str, data: dict[str, Any], actor: Actor | None = None, message_id: uuid.UUID | None = None) -> Envelope:
    try:
        spec = latest(type_)
    except KeyError:
        raise UsageError(f"unknown command type {type_!r}") from None
    if not spec.topic.carries_commands:
        raise UsageError(f"{type_} is an event, not a command")
    return new_envelope(id=message_id or uuid.uuid4(), type=type_, version=spec.version, data=data,
                        occurred_at=datetime.now(UTC), source="nce-cli", actor=actor or OPERATOR)


def signer(key: str | None = None) -> Signer:
    """Who `nce` signs commands as: NCE_COMMAND_ISSUER (default nce-cli) with NCE_COMMAND_SIGNING_KEY, or `key`."""
    settings = CommandKeySettings()
    secret = settings.command_signing_key.get_secret_value() if settings.command_signing_key else key
    if not secret:
        raise UsageError("no key to sign commands with: set NCE_COMMAND_SIGNING_KEY, or start `nce up`")
    return Signer(settings.command_issuer, secret)


async def _outcome_consumer(kafka: KafkaSettings, topics: set[str], since_ms: int) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(**connection(kafka), enable_auto_commit=False, group_id=None)
    await _start(consumer, kafka.kafka_bootstrap)
    partitions = [TopicPartition(t, p) for t in sorted(topics) for p in sorted(consumer.partitions_for_topic(t) or [])]
    consumer.assign(partitions)
    # Tansu reports wrong end offsets, so position by time, not by "latest".
    found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
    for tp in partitions:
        if found.get(tp) is not None:
            consumer.seek(tp, found[tp].offset)
        else:
            await consumer.seek_to_beginning(tp)
    return consumer


COMMAND_LINGER_MS = 5


def command_producer(bootstrap: str, linger_ms: int = COMMAND_LINGER_MS) -> AIOKafkaProducer:
    """The producer commands go out on (not started), with the same NCE_KAFKA_* security settings as the services'."""
    return AIOKafkaProducer(**connection(KafkaSettings(kafka_bootstrap=bootstrap)), acks="all", linger_ms=linger_ms)


async def publish(producer: AIOKafkaProducer, c: Envelope, signed_by: Signer) -> "asyncio.Future[Any]":
    """Hand one command to the producer as outside systems publish it (topic, key, headers, signature); the
    delivery future."""
    topic = latest(c.type).topic
    key = command_key(topic, c.data)
    value = c.to_bytes()
    with tracing.sending(c, topic.name):  # each command the root of its own trace, when tracing
        headers = [*c.headers(), *tracing.headers(), signed_by.header(value, c.actor, datetime.now(UTC))]
        return await producer.send(topic.name, value, key=key.encode() if key else None, headers=headers)


async def outcome_consumer(bootstrap: str, command_types: set[str], since_ms: int) -> AIOKafkaConsumer:
    """A consumer of the events topics where the outcomes of these command types land, from `since_ms` on."""
    topics = {latest(t).topic for t in command_types}
    return await _outcome_consumer(KafkaSettings(kafka_bootstrap=bootstrap), {events_topic_of(t).name for t in topics},
                                   since_ms)


async def send_many(bootstrap: str, commands: list[Envelope], timeout: float,
                    signed_by: Signer, since_ms: int | None = None) -> dict[str, dict[str, Any] | None]:
    """Publish the commands in order, each signed; return each one's outcome event (None where none came within
    `timeout`), looked for from `since_ms` on (default: 5 s ago). BrokerUnreachableError when no broker answers at
    `bootstrap`.

    TLS and SASL come from the same NCE_KAFKA_* settings as the services'.
    """
    kafka = KafkaSettings(kafka_bootstrap=bootstrap)
    topics = {latest(c.type).topic for c in commands}
    consumer = await _outcome_consumer(kafka, {events_topic_of(t).name for t in topics},
                                       int(time.time() * 1000) - 5000 if since_ms is None else since_ms)
    producer = command_producer(bootstrap)
    try:
        await _start(producer, bootstrap)
    except BrokerUnreachableError:
        await consumer.stop()
        raise
    outcomes: dict[str, dict[str, Any] | None] = {str(c.id): None for c in commands}
    try:
        await asyncio.gather(*[await publish(producer, c, signed_by) for c in commands])
        missing, deadline = len(outcomes), time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    try:
                        event = json.loads(r.value)
                    except ValueError:
                        continue
                    cause = event.get("causation_id") if isinstance(event, dict) else None
                    if cause in outcomes and outcomes[cause] is None:
                        outcomes[cause] = event
                        missing -= 1
        return outcomes
    finally:
        await producer.stop()
        await consumer.stop()


def run_send(bootstrap: str, envelope: Envelope, timeout: float, signed_by: Signer,
             since_ms: int | None = None) -> dict[str, Any] | None:
    return asyncio.run(send_many(bootstrap, [envelope], timeout, signed_by, since_ms))[str(envelope.id)]


def is_rejection(outcome: dict[str, Any]) -> bool:
    return str(outcome.get("type", "")).endswith(".command_rejected")

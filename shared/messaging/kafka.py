"""Kafka clients built from settings, the same way for every service, with the per-backend knobs in one place."""
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.helpers import create_ssl_context
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import REGISTRY

from shared.contracts.topics import BY_NAME
from shared.settings import KafkaSettings, ServiceSettings

log = logging.getLogger(__name__)

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def connection(settings: KafkaSettings) -> dict[str, Any]:
    """The arguments every aiokafka client gets: where the broker is and how to reach it (TLS, SASL)."""
    protocol = settings.kafka_security_protocol
    # a list: FastStream would pass "a:9093,b:9093" on as one host name
    servers = [host.strip() for host in settings.kafka_bootstrap.split(",") if host.strip()]
    args: dict[str, Any] = {"bootstrap_servers": servers, "security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        args["ssl_context"] = create_ssl_context(cafile=cafile)  # the system's CAs when no file is given
    if protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # the settings refuse SASL without one
        args |= {"sasl_mechanism": settings.kafka_sasl_mechanism,
                 "sasl_plain_username": settings.kafka_sasl_username,
                 "sasl_plain_password": settings.kafka_sasl_password.get_secret_value()}
    return args


def broker_security(settings: KafkaSettings) -> BaseSecurity | None:
    """The same connection security in FastStream's terms (it turns these back into aiokafka's arguments)."""
    args = connection(settings)
    ssl = args.get("ssl_context")
    if "sasl_mechanism" in args:
        return _SASL[args["sasl_mechanism"]](args["sasl_plain_username"], args["sasl_plain_password"],
                                            ssl_context=ssl, use_ssl=ssl is not None)
    return BaseSecurity(ssl_context=ssl) if ssl else None


def make_admin(settings: KafkaSettings, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(client_id=client_id, **connection(settings))


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection(settings),
        client_id=f"nce-{settings.service}-relay",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=256 * 1024,
        max_request_size=settings.max_message_bytes + 64 * 1024,
    )


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    """FastStream's broker for the consumer, with its Prometheus middleware (`faststream_received_*` per batch) beside
    the kernel's own per-message metrics."""
    prometheus = KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"nce-{settings.service}")
    # FastStream's own "Received"/"Processed" lines (one pair per fetched batch) at DEBUG: the kernel logs what matters
    return KafkaBroker(connection(settings)["bootstrap_servers"], client_id=f"nce-{settings.service}", logger=log,
                       log_level=logging.DEBUG, security=broker_security(settings), middlewares=[prometheus])


def subscribe(broker: KafkaBroker, settings: ServiceSettings, topics: list[str], handler) -> Any:  # type: ignore[no-untyped-def]
    """One batch subscriber over all the service's inbound topics (one group join, not one per topic); returned, so
    the handler can reach its aiokafka consumer (`.consumer`, set once it has started).

    Offsets are committed after the handler returns (the handler commits each message's transaction first);
    on an error the batch is re-read from its first record and the inbox turns the replays into no-ops.
    """
    subscriber = broker.subscriber(
        *topics,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=100,
        auto_offset_reset="earliest",  # a new group must not skip what was published before it joined
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_partition_fetch_bytes=settings.max_message_bytes * 2,
        fetch_max_bytes=settings.max_message_bytes * 8,
        decoder=_raw,
    )
    subscriber(handler)
    return subscriber


def pace_s(settings: ServiceSettings, topics: Iterable[str]) -> float:
    """A consumer's pace: NCE_CONSUMER_PACE_MS if it reads a commands topic (someone awaits the outcome), else
    NCE_EVENT_PACE_MS (it reads only events, facts that nobody awaits)."""
    commands = any(BY_NAME[t].carries_commands for t in topics)
    return (settings.consumer_pace_ms if commands else settings.event_pace_ms) / 1000


def pause_s(full: bool, pace: float, took_s: float) -> float:
    """How long a consumer waits before it fetches again after a batch that took `took_s` to handle: after a full
    batch (a backlog) not at all, else until `pace` (its `pace_s`) after the batch's start.

    For the embedded broker, which lists a partition's whole history on each read of new data: fewer, larger batches
    (figures in bench/HISTORY.md).
    """
    return 0.0 if full else max(0.0, pace - took_s)


@contextlib.asynccontextmanager
async def paced(consumer: AIOKafkaConsumer, pace: float, full: bool) -> AsyncIterator[None]:
    """Around the handling of a fetched batch: afterwards wait out `pause_s`, and read nothing meanwhile.

    aiokafka reads a partition again as soon as its batch has been taken. Paced, that read would bring only what
    arrived in the first moments of the handling, and its batch would then wait out the handling and the pace
    before it is handled: up to two paces old. So the partitions are paused while a batch is handled and paced, and
    the next read, at the pace, brings everything that arrived meanwhile (a command waited 67 ms at the median
    before its handling began, 33 ms paused; bench/HISTORY.md)."""
    loop = asyncio.get_running_loop()
    started, holding = loop.time(), pace > 0 and not full
    if holding:
        consumer.pause(*consumer.assignment())
    try:
        yield
        wait = pause_s(full, pace, loop.time() - started)
        if wait:
            await asyncio.sleep(wait)
    finally:
        if holding:
            consumer.resume(*consumer.paused())


async def _raw(msg, original=None):  # type: ignore[no-untyped-def]
    """Leave bodies undecoded: the kernel decodes and validates (and parks what is poison)."""
    return None


def topic_config(name: str) -> dict[str, str]:
    """A topic's settings at creation: a commands topic stamps each record with the time the broker appended it, so
    a command's token is judged at a time its publisher cannot set (signing.py; Tansu ignores it, Apache Kafka
    honours it)."""
    return {"message.timestamp.type": "LogAppendTime"} if name.endswith(".commands") else {}


async def ensure_topics(settings: KafkaSettings, names: Iterable[str], client_id: str = "nce-admin") -> None:
    """Create the topics (and their dead-letter topics) that do not exist yet."""
    wanted = {n for name in names for n in (name, f"{name}.dlq")}
    admin = make_admin(settings, client_id)
    await admin.start()
    try:
        missing = wanted - set(await admin.list_topics())
        if missing:
            size = (settings.kafka_partitions, settings.kafka_replication_factor)
            await admin.create_topics([NewTopic(n, *size, topic_configs=topic_config(n)) for n in sorted(missing)],
                                      validate_only=False)
            log.info("created topics %s", ", ".join(sorted(missing)))
    finally:
        await admin.close()

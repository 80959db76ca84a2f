"""Logs, traces and gauges against the real broker and database: correlation ids in the log lines, one trace from
`nce send` through a handler and the relay to the next service's handler, consumer lag, late timers."""
import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from services.scheduler.firing import timer_gauges
from services.scheduler.storage import set_timer
from services.send import command, send_many
from services.subscription.app import SERVICE as SUBSCRIPTION
from shared import logs, tracing
from shared.clock import SimulatedClock
from shared.contracts.scheduler import TermEnded
from shared.contracts.subscription import PartnerRegistered
from shared.db.pool import connect
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from shared.messaging.handlers import Context, Handlers
from shared.messaging.kafka import ensure_topics
from shared.messaging.lag import ConsumerLag
from shared.messaging.relay import Relay
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from tests.conftest import SIGNER, migrated_pool
from tests.kafka import read

pytestmark = pytest.mark.integration
COMMANDS, EVENTS = "nce.subscription.commands", "nce.subscription.events"
PARTNER = {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD", "country": "US"}
NOW = datetime(2025, 1, 15, 10, tzinfo=UTC)


def settings_of(stack, service: str) -> ServiceSettings:  # type: ignore[no-untyped-def]
    return stack.service_settings(service)  # type: ignore[no-any-return]


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


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install("tests", [SimpleSpanProcessor(exporter)])
    yield exporter
    tracing.uninstall()


async def test_a_command_its_event_and_the_next_service_s_handler_share_one_trace(
        stack, spans: InMemorySpanExporter, json_lines: io.StringIO) -> None:
    await ensure_topics(settings_of(stack, "subscription"), [COMMANDS, EVENTS])
    upstream, downstream = await migrated_pool(stack, "subscription"), await migrated_pool(stack, "billing")
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    listening = Handlers("billing")

    @listening.on("partner.registered")
    async def on_partner_registered(ctx: Context, event: PartnerRegistered) -> None:
        logging.getLogger("tests.handler").info("billing learns of %s", event.partner_id)

    try:
        cmd = command("partner.register", PARTNER)
        sending = asyncio.create_task(send_many(stack.bootstrap, [cmd], timeout=60, signed_by=SIGNER))  # as `nce send` does
        [received] = await read(stack.bootstrap, COMMANDS, until=1)
        await Consumer(SUBSCRIPTION.handlers, upstream, SimulatedClock(NOW), max_bytes=10_000).handle(
            Record.of(received))
        relay = Relay(lambda: connect(stack.database_url, "subscription"), producer, "subscription")
        conn = await relay.connect()
        try:
            assert await relay.publish_once(conn) == 1
        finally:
            await conn.close()
        assert (await sending)[str(cmd.id)]["type"] == "partner.registered"
        [event] = await read(stack.bootstrap, EVENTS, until=1)
        assert "traceparent" in dict(event.headers)
        await Consumer(listening, downstream, SimulatedClock(NOW), max_bytes=10_000).handle(Record.of(event))
    finally:
        await producer.stop()
        await upstream.close()
        await downstream.close()

    by_name = {s.name: s for s in spans.get_finished_spans()}
    sent, handled, followed = (by_name["send partner.register"], by_name["process partner.register"],
                               by_name["process partner.registered"])
    assert sent.parent is None
    assert handled.parent.span_id == sent.context.span_id
    assert followed.parent.span_id == handled.context.span_id
    assert len({s.context.trace_id for s in (sent, handled, followed)}) == 1
    assert handled.attributes["nce.outcome"] == "applied"
    [line] = [x for x in lines(json_lines) if x["message"] == "billing learns of P1"]
    assert line["correlation_id"] == str(cmd.id) and line["message_type"] == "partner.registered"
    assert line["trace_id"] == format(sent.context.trace_id, "032x")


async def test_consumer_lag_counts_the_records_a_group_has_not_committed(stack) -> None:
    settings = settings_of(stack, "subscription").model_copy(update={"kafka_partitions": 2})  # two to count over
    await ensure_topics(settings, [COMMANDS])
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=50)  # batches: Tansu's end offsets lie
    await producer.start()
    committer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=settings.group_id,
                                 enable_auto_commit=False)
    await committer.start()
    lag = ConsumerLag(producer, settings, "subscription", settings.group_id, [COMMANDS], min_interval_s=0)
    try:
        sent = await asyncio.gather(*[await producer.send(COMMANDS, b"{}", partition=n % 2) for n in range(100)])
        assert sorted(m.partition for m in sent)[::50] == [0, 1]
        assert await lag.refresh() == {COMMANDS: 100}  # nothing committed yet
        committer.assign([TopicPartition(COMMANDS, 0), TopicPartition(COMMANDS, 1)])
        await committer.commit({TopicPartition(COMMANDS, 0): 30, TopicPartition(COMMANDS, 1): 50})
        # the 100 records and the first measurement's marker in each partition, less the 80 committed
        behind = 100 + settings.kafka_partitions - 80
        assert await lag.refresh() == {COMMANDS: behind}
        gauge = REGISTRY.get_sample_value("nce_consumer_lag", {"service": "subscription", "topic": COMMANDS})
        assert gauge == behind
    finally:
        await lag.close()
        await committer.stop()
        await producer.stop()


async def test_the_timer_gauges_count_due_timers_and_how_late_the_oldest_is(stack) -> None:
    pool = await migrated_pool(stack, "scheduler")
    try:
        async with pool.acquire() as conn:
            for n, due in enumerate((NOW - timedelta(seconds=90), NOW - timedelta(seconds=5), NOW + timedelta(days=1))):
                event = TermEnded(subscription_id=f"S{n}", customer_id="C1", term_end=due.date(), instant=due)
                await set_timer(conn, "term_end", f"S{n}", due, "C1", event, "scheduler.term_ended", NOW)
        rt = Runtime(settings=settings_of(stack, "scheduler"), clock=SimulatedClock(NOW), pool=pool)
        await timer_gauges(rt)
    finally:
        await pool.close()
    assert REGISTRY.get_sample_value("nce_timers_due", {"service": "scheduler"}) == 2
    assert REGISTRY.get_sample_value("nce_timers_late_seconds", {"service": "scheduler"}) == 90


def test_markers_of_a_measurement_are_skipped_by_consumers() -> None:
    from shared.messaging.decode import MARKER, decode
    from shared.contracts.envelope import new_envelope

    marker = new_envelope(id=uuid.uuid4(), type=MARKER, data={}, occurred_at=NOW, source="kernel")
    assert decode(Record(COMMANDS, 0, 0, None, marker.to_bytes(), tuple(marker.headers())), 10_000) is None

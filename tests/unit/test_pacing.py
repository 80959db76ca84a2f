"""On the embedded broker a consumer reads in gulps, but never holds back a backlog."""
import asyncio

import pytest

from shared.infra import tansu_settings
from shared.messaging.kafka import pace_s, paced, pause_s
from shared.settings import ServiceSettings


def test_a_batch_that_was_not_full_waits_out_the_rest_of_the_pace() -> None:
    assert pause_s(False, 0.04, 0.01) == pytest.approx(0.03)


def test_a_full_batch_means_a_backlog_which_is_read_at_full_speed() -> None:
    assert pause_s(True, 0.04, 0.01) == 0


def test_a_batch_that_took_longer_than_the_pace_does_not_wait() -> None:
    assert pause_s(False, 0.04, 0.25) == 0


def test_apache_kafka_defaults_do_not_pace_and_the_embedded_broker_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NCE_CONSUMER_PACE_MS", raising=False)
    monkeypatch.delenv("NCE_EVENT_PACE_MS", raising=False)
    assert ServiceSettings.model_fields["consumer_pace_ms"].default == 0
    assert ServiceSettings.model_fields["event_pace_ms"].default == 0
    assert pause_s(False, 0, 0) == 0
    assert tansu_settings()["NCE_CONSUMER_PACE_MS"] == "40"
    assert tansu_settings()["NCE_EVENT_PACE_MS"] == "200"
    monkeypatch.setenv("NCE_CONSUMER_PACE_MS", "0")  # an explicit setting wins over the embedded broker's default
    assert tansu_settings()["NCE_CONSUMER_PACE_MS"] == "0"


def test_a_reader_of_commands_keeps_the_short_pace_and_a_reader_of_events_alone_the_long_one() -> None:
    settings = ServiceSettings(kafka_bootstrap="kafka:9092", database_url="postgresql://db/nce", consumer_pace_ms=40,
                               event_pace_ms=200)
    subscription = ["nce.subscription.commands", "nce.scheduler.events", "nce.pricing.events"]
    billing = ["nce.subscription.events", "nce.pricing.events"]
    assert pace_s(settings, subscription) == pytest.approx(0.04)  # someone awaits a command's outcome
    assert pace_s(settings, billing) == pytest.approx(0.2)


class _Consumer:
    """What `paced` uses of an aiokafka consumer: its assignment, and pausing and resuming partitions."""

    def __init__(self) -> None:
        self.assigned = {("nce.subscription.commands", 0), ("nce.scheduler.events", 0)}
        self.held: set[tuple[str, int]] = set()

    def assignment(self) -> set[tuple[str, int]]:
        return set(self.assigned)

    def pause(self, *partitions: tuple[str, int]) -> None:
        self.held |= set(partitions)

    def paused(self) -> set[tuple[str, int]]:
        return set(self.held)

    def resume(self, *partitions: tuple[str, int]) -> None:
        self.held -= set(partitions)


async def test_a_paced_batch_reads_nothing_until_the_pace_has_passed_since_its_start() -> None:
    consumer, loop = _Consumer(), asyncio.get_running_loop()
    started = loop.time()
    async with paced(consumer, 0.05, full=False):  # type: ignore[arg-type]
        assert consumer.paused() == consumer.assignment()  # no read while the batch is handled
    assert loop.time() - started >= 0.05
    assert consumer.paused() == set()  # the next read brings everything that arrived meanwhile


async def test_a_full_batch_is_a_backlog_and_the_next_one_is_read_at_once() -> None:
    consumer, loop = _Consumer(), asyncio.get_running_loop()
    started = loop.time()
    async with paced(consumer, 0.05, full=True):  # type: ignore[arg-type]
        assert consumer.paused() == set()
    assert loop.time() - started < 0.05


async def test_a_batch_that_fails_leaves_no_partition_paused() -> None:
    consumer = _Consumer()
    with pytest.raises(RuntimeError):
        async with paced(consumer, 0.05, full=False):  # type: ignore[arg-type]
            raise RuntimeError("handler failed")
    assert consumer.paused() == set()  # the batch is read again, not stalled for good


async def test_without_a_pace_nothing_is_paused() -> None:
    consumer = _Consumer()
    async with paced(consumer, 0, full=False):  # type: ignore[arg-type]
        assert consumer.paused() == set()

"""On the embedded broker a consumer reads events in gulps, but never holds back a command or a backlog."""
import pytest

from shared.infra import tansu_settings
from shared.messaging.kafka import pause_s
from shared.settings import ServiceSettings

COMMANDS = ["nce.subscription.commands"]


def test_events_only_wait_out_the_rest_of_the_pace() -> None:
    assert pause_s({"nce.scheduler.events"}, False, COMMANDS, 0.1, 0.03) == pytest.approx(0.07)


def test_a_batch_with_a_command_is_followed_by_the_next_fetch_at_once() -> None:
    assert pause_s({"nce.scheduler.events", "nce.subscription.commands"}, False, COMMANDS, 0.1, 0.01) == 0


def test_a_full_batch_means_a_backlog_which_is_read_at_full_speed() -> None:
    assert pause_s({"nce.scheduler.events"}, True, COMMANDS, 0.1, 0.01) == 0


def test_a_batch_that_took_longer_than_the_pace_does_not_wait() -> None:
    assert pause_s({"nce.scheduler.events"}, False, COMMANDS, 0.1, 0.25) == 0


def test_apache_kafka_defaults_do_not_pace_and_the_embedded_broker_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NCE_CONSUMER_PACE_MS", raising=False)
    assert ServiceSettings.model_fields["consumer_pace_ms"].default == 0
    assert pause_s({"nce.scheduler.events"}, False, COMMANDS, 0, 0) == 0
    assert tansu_settings()["NCE_CONSUMER_PACE_MS"] == "100"
    monkeypatch.setenv("NCE_CONSUMER_PACE_MS", "0")  # an explicit setting wins over the embedded broker's default
    assert tansu_settings()["NCE_CONSUMER_PACE_MS"] == "0"

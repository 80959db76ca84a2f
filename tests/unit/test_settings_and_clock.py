"""Settings are validated at start; the simulated clock never runs backwards."""
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.clock import ClockMovedBackwardsError, SimulatedClock
from shared.settings import ServiceSettings

BASE = {"kafka_bootstrap": "127.0.0.1:9092", "database_url": "postgresql://nce:s3cret-9x@db/nce"}


def test_a_service_gets_its_own_schema_group_and_default_port() -> None:
    s = ServiceSettings(service="billing", **BASE)
    assert (s.schema, s.group_id, s.http_port) == ("billing", "nce.billing", 8104)


def test_the_database_secret_has_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NCE_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="database_url"):
        ServiceSettings(service="billing", kafka_bootstrap="x:1")


def test_a_placeholder_password_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="placeholder password"):
        ServiceSettings(service="billing", kafka_bootstrap="x:1", database_url="postgresql://u:changethis@db/x")


def test_an_unknown_service_or_a_simulated_clock_without_start_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown service"):
        ServiceSettings(service="invoicing", **BASE)
    with pytest.raises(ValidationError, match="NCE_CLOCK_START"):
        ServiceSettings(service="billing", clock="simulated", **BASE)


def test_a_command_scope_must_name_an_issuer_with_a_key() -> None:
    keys = {"p1-crm": "k" * 40}
    s = ServiceSettings(service="subscription", command_keys=keys, command_scopes={"p1-crm": ["P1"]}, **BASE)
    assert s.command_scopes == {"p1-crm": ["P1"]}
    with pytest.raises(ValidationError, match=r"no key in NCE_COMMAND_KEYS: \['p2-crm'\]"):
        ServiceSettings(service="subscription", command_keys=keys, command_scopes={"p2-crm": ["P2"]}, **BASE)


async def test_the_simulated_clock_moves_forward_only() -> None:
    clock = SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC))
    await clock.set(datetime(2025, 2, 1, tzinfo=UTC))
    assert await clock.now() == datetime(2025, 2, 1, tzinfo=UTC)
    with pytest.raises(ClockMovedBackwardsError):
        await clock.set(datetime(2025, 1, 15, tzinfo=UTC))

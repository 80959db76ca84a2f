"""Telling good messages from poison, before any database work."""
import json

import pytest

from shared.contracts.subscription import RegisterPartner
from shared.messaging.decode import PoisonError, Record, decode
from tests.kafka import command

TOPIC = "nce.subscription.commands"
PARTNER = {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD", "country": "US"}


def rec(value: bytes, topic: str = TOPIC) -> Record:
    return Record(topic, 0, 0, None, value)


def test_a_valid_command_decodes_to_its_data_model_and_ignores_unknown_fields() -> None:
    decoded = decode(rec(command("partner.register", {**PARTNER, "future_field": 1})), 100_000)
    assert isinstance(decoded.data, RegisterPartner) and decoded.data.partner_id == "P1"


@pytest.mark.parametrize(
    "value, topic, reason, code",
    [
        (b"\x00\x01", TOPIC, "not JSON", "INVALID_COMMAND"),
        (b"[1, 2]", TOPIC, "invalid envelope", "INVALID_COMMAND"),
        (command("partner.register", PARTNER, version=7), TOPIC, "unknown message type", "UNKNOWN_COMMAND"),
        (command("partner.register", PARTNER), "nce.catalog.commands", "unknown message type", "UNKNOWN_COMMAND"),
        (command("partner.register", {**PARTNER, "billing_currency": 5}), TOPIC, "invalid data", "INVALID_COMMAND"),
        (command("subscription.purchase", {"customer_id": "C", "catalog_item_id": "nope", "term_duration": "P1Y",
                                           "billing_cycle": "annual", "quantity": "5"}), TOPIC, "invalid data",
         "INVALID_COMMAND"),
    ],
)
def test_poison_says_why(value: bytes, topic: str, reason: str, code: str) -> None:
    with pytest.raises(PoisonError) as caught:
        decode(rec(value, topic), 100_000)
    assert caught.value.reason.startswith(reason) and caught.value.code == code


def test_an_oversized_message_is_poison_before_it_is_parsed() -> None:
    with pytest.raises(PoisonError, match="oversized: 2001 bytes"):
        decode(rec(b" " * 2001), 2000)


def test_invalid_data_names_the_fields_at_fault() -> None:
    bad = json.loads(command("subscription.purchase", {"customer_id": "C1"}))
    with pytest.raises(PoisonError) as caught:
        decode(rec(json.dumps(bad).encode()), 100_000)
    assert "catalog_item_id" in caught.value.reason and "quantity" in caught.value.reason

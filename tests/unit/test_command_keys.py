"""The Kafka key a command goes out under (shared/messaging/keys.py), as the contract's topic table names it."""
import json

import pytest

from shared.contracts import REGISTRY
from shared.contracts.topics import CATALOG_COMMANDS
from shared.messaging.keys import command_key
from tests.contract.write_samples import path_of

CATALOG = sorted((t, v) for (t, v), spec in REGISTRY.items() if spec.topic == CATALOG_COMMANDS)


@pytest.mark.parametrize(("type_", "version"), CATALOG)
def test_every_catalog_command_is_keyed_by_its_product_id_as_the_catalog_keys_its_events(type_: str,
                                                                                         version: int) -> None:
    data = json.loads(path_of(type_, version).read_text())["data"]
    product_id = REGISTRY[(type_, version)].model.model_validate(data).product_id  # type: ignore[attr-defined]
    assert command_key(CATALOG_COMMANDS, data) == product_id


def test_an_eos_rule_is_keyed_by_its_product_and_an_offer_by_the_part_of_its_id_before_the_first_colon() -> None:
    assert command_key(CATALOG_COMMANDS, {"product_id": "CFQ7TTC0LF8Q", "sku_id": "0001"}) == "CFQ7TTC0LF8Q"
    assert command_key(CATALOG_COMMANDS, {"catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971"}) == "CFQ7TTC0LH18"

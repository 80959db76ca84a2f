"""The Kafka key of a command, per the contract's topic table (so one customer's messages stay in order)."""
from typing import Any

from shared.contracts.topics import Topic

_KEY_FIELDS = {
    "catalog": ("catalog_item_id",),
    "pricing": ("market",),
    "subscription": ("customer_id", "partner_id", "subscription_id"),
}


def command_key(topic: Topic, data: dict[str, Any]) -> str | None:
    for field in _KEY_FIELDS.get(topic.area, ()):
        value = data.get(field)
        if isinstance(value, str) and value:
            return value.split(":")[0] if field == "catalog_item_id" else value
    return None

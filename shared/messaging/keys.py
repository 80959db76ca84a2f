"""The Kafka key of a command, per the contract's topic table (so one customer's messages stay in order)."""
from typing import Any

from shared.contracts.topics import Topic

# Catalog commands are keyed by product id, as the catalog keys its events: an EOS rule names it (`product_id`), an
# offer carries it as the part of its `catalog_item_id` before the first ':'.
_KEY_FIELDS = {
    "catalog": ("product_id", "catalog_item_id"),
    "pricing": ("market",),
    "subscription": ("customer_id", "partner_id", "subscription_id"),
}


def command_key(topic: Topic, data: dict[str, Any]) -> str | None:
    for field in _KEY_FIELDS.get(topic.area, ()):
        value = data.get(field)
        if isinstance(value, str) and value:
            return value.split(":", 1)[0] if field == "catalog_item_id" else value
    return None

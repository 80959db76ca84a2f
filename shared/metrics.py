"""Prometheus metrics of the platform layer, labelled by service."""
from prometheus_client import Counter, Gauge, Histogram

HANDLED = Counter(
    "nce_messages_handled_total",
    "Inbound messages handled, by outcome (applied, duplicate, rejected, skipped, dead_lettered)",
    ["service", "type", "outcome"],
)
FAILED = Counter("nce_messages_failed_total", "Handling attempts that failed and will be retried", ["service", "kind"])
DEAD_LETTERED = Counter("nce_messages_dead_lettered_total", "Messages parked in a dead-letter topic", ["service", "topic"])
LATENCY = Histogram(
    "nce_handler_latency_seconds",
    "Time from receipt to commit of one inbound message",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("nce_outbox_backlog", "Outbox rows not yet published", ["service"])
PUBLISHED = Counter("nce_outbox_published_total", "Outbox rows published to the broker", ["service"])

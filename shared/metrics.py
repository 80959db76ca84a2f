"""Prometheus metrics of the platform layer and the business counters, labelled by service."""
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel

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
CONSUMER_LAG = Gauge(
    "nce_consumer_lag",
    "Records the service's consumer group has not committed yet, summed over the topic's partitions (measured "
    "against a marker per partition when scraped)",
    ["service", "topic"],
)
# Labelled by service although only the scheduler has timers: an unlabelled gauge would read 0 in every service.
TIMERS_DUE = Gauge("nce_timers_due", "Scheduler timers due by the clock and not fired yet", ["service"])
TIMERS_LATE = Gauge("nce_timers_late_seconds", "How long ago the oldest timer not fired yet fell due (0: none due)",
                    ["service"])
PUBLISHED = Counter("nce_outbox_published_total", "Outbox rows published to the broker", ["service"])
EMITTED = Counter(
    "nce_events_total",
    "Events committed, by type: purchases are subscription.created, renewals subscription.renewed (one per renewal, "
    "also those a subscription.terms_renewed carries), charges "
    "billing.charge_created, invoices billing.invoice_issued, timers fired scheduler.*",
    ["service", "type"],
)
REJECTED = Counter("nce_commands_rejected_total", "Commands rejected, by type and code", ["service", "type", "code"])
CHARGED = Gauge("nce_charged_amount", "Sum of charge line amounts (refunds negative), in the partner's currency",
                ["currency", "charge_type"])


def committed(service: str, events: Iterable[tuple[str, BaseModel]]) -> None:
    """Count what a transaction wrote, once it has committed."""
    for type_, data in events:
        if type_ == "subscription.terms_renewed":  # counted as what it carries, one per renewal
            EMITTED.labels(service, "subscription.renewed").inc(len(data.renewals))  # type: ignore[attr-defined]
            continue
        EMITTED.labels(service, type_).inc()
        if type_ == "billing.charge_created":
            CHARGED.labels(data.currency, data.charge_type).inc(float(data.amount))  # type: ignore[attr-defined]

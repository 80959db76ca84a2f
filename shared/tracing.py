"""OpenTelemetry tracing across the services, off unless configured (then the `otel` extra must be installed).

A trace follows a command through every service: `nce send` starts it, each handled message is a span whose
parent comes from the record's W3C `traceparent` header, and the outbox rows written inside that span carry its
`traceparent`, which the relay publishes as a Kafka header like the others. The kernel's batch subscriber and raw
producer are not FastStream publishers, so FastStream's own telemetry middleware could not link these hops.
When tracing is off every function here returns at once, and OpenTelemetry is never imported.
"""
import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from shared.contracts.envelope import Envelope
from shared.settings import ObservabilitySettings

_tracer: Any = None  # an opentelemetry Tracer once configured


def configure(settings: ObservabilitySettings, service: str) -> None:
    """Export spans to the OTLP endpoint (and/or the console) when the settings ask for tracing."""
    if not settings.tracing:
        return
    try:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError:
        raise RuntimeError("tracing is asked for (NCE_OTEL_*) but OpenTelemetry is not installed: "
                           "pip install 'nce[otel]'") from None

    processors: list[Any] = []
    if settings.otel_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(settings.otel_endpoint))))
    if settings.otel_console:
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))  # stdout is the CLI's
    install(service, processors)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT is read."""
    return endpoint if urlsplit(endpoint).path.endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"


def install(service: str, processors: Sequence[Any]) -> Any:
    """Trace with a provider of our own exporting through `processors` (tests pass an in-memory exporter's)."""
    global _tracer
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": f"nce-{service}"}))
    for processor in processors:
        provider.add_span_processor(processor)
    _tracer = provider.get_tracer("nce")
    return provider


def uninstall() -> None:
    global _tracer
    _tracer = None


def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


@contextlib.contextmanager
def consuming(envelope: Envelope, topic: str, partition: int, offset: int,
              headers: Sequence[tuple[str, bytes]]) -> Iterator[str | None]:
    """A span for handling one inbound message, continuing the trace its headers carry; yields the trace id."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    carrier = {k: v.decode("latin-1") for k, v in headers if k in ("traceparent", "tracestate")}
    attributes = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.kafka.destination.partition": partition,
        "messaging.kafka.message.offset": offset,
        "messaging.message.id": str(envelope.id),
        "messaging.message.conversation_id": envelope.correlation_id,
        "nce.message.type": envelope.type,
    }
    with _tracer.start_as_current_span(f"process {envelope.type}", context=_propagator().extract(carrier),
                                       kind=SpanKind.CONSUMER, attributes=attributes) as span:
        yield format(span.get_span_context().trace_id, "032x")


@contextlib.contextmanager
def sending(envelope: Envelope, topic: str) -> Iterator[None]:
    """A root span for a command sent from outside the services (`nce send`, imports)."""
    if _tracer is None:
        yield
        return
    from opentelemetry.trace import SpanKind

    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic,
                  "messaging.message.id": str(envelope.id), "nce.message.type": envelope.type}
    with _tracer.start_as_current_span(f"send {envelope.type}", kind=SpanKind.PRODUCER, attributes=attributes):
        yield


def headers() -> list[tuple[str, bytes]]:
    """The current span's `traceparent` (and `tracestate`) as Kafka headers; none when not tracing."""
    if _tracer is None:
        return []
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]


def annotate(**attributes: str) -> None:
    """Add attributes to the current span (the outcome of handling a message)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes({f"nce.{k}": v for k, v in attributes.items()})

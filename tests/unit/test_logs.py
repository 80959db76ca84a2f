"""One JSON object per log line, stamped with the message being handled; tracing off costs nothing."""
import json
import logging
import sys
import uuid
from datetime import UTC, datetime

from shared import logs, tracing
from shared.contracts.envelope import new_envelope

ENVELOPE = new_envelope(id=uuid.UUID("7d1e0c4e-52c7-4b8e-9d43-1f6b8a3d2e10"), type="partner.register", data={},
                        occurred_at=datetime(2025, 1, 15, tzinfo=UTC), source="tests", correlation_id="corr-1",
                        causation_id="cause-1")


def record(msg: str = "handled %s", *args: object, name: str = "shared.messaging.consumer",
           exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args or ("it",), exc_info)  # type: ignore[arg-type]


def test_a_json_line_carries_time_level_service_logger_and_message() -> None:
    line = json.loads(logs.JsonFormatter("billing").format(record()))
    assert line["level"] == "WARNING" and line["service"] == "billing"
    assert line["logger"] == "shared.messaging.consumer" and line["message"] == "handled it"
    assert datetime.fromisoformat(line["ts"]).utcoffset() == UTC.utcoffset(None)
    assert "correlation_id" not in line and "exception" not in line


def test_inside_a_message_context_every_line_carries_the_message_ids() -> None:
    with logs.message_context(ENVELOPE, trace_id="ab" * 16):
        line = json.loads(logs.JsonFormatter("billing").format(record()))
    assert line["correlation_id"] == "corr-1" and line["causation_id"] == "cause-1"
    assert line["message_id"] == str(ENVELOPE.id) and line["message_type"] == "partner.register"
    assert line["trace_id"] == "ab" * 16
    assert "correlation_id" not in json.loads(logs.JsonFormatter("billing").format(record()))  # reset after


def test_an_exception_is_one_string_field_and_the_line_stays_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        text = logs.JsonFormatter("billing").format(record(exc_info=sys.exc_info()))
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]


def test_an_access_line_keeps_method_path_and_status_as_fields() -> None:
    access = record('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/readyz", "1.1", 200, name="uvicorn.access")
    line = json.loads(logs.JsonFormatter("billing").format(access))
    assert (line["method"], line["path"], line["status"]) == ("GET", "/readyz", 200)


def test_what_a_caller_passes_as_extra_is_kept_apart_from_the_message_context() -> None:
    with_extra = record()
    with_extra.__dict__.update({"topic": "nce.subscription.events", "message_id": "faststream's"})
    with logs.message_context(ENVELOPE):
        line = json.loads(logs.JsonFormatter("billing").format(with_extra))
    assert line["extra"] == {"topic": "nce.subscription.events", "message_id": "faststream's"}
    assert line["message_id"] == str(ENVELOPE.id)


def test_the_text_format_appends_the_message_context() -> None:
    assert logs.TextFormatter().format(record()).endswith("shared.messaging.consumer: handled it")
    with logs.message_context(ENVELOPE):
        assert "[correlation_id=corr-1 message_id=" in logs.TextFormatter().format(record())


def test_with_tracing_off_no_header_no_span_and_no_opentelemetry_needed() -> None:
    tracing.uninstall()
    assert tracing.headers() == []
    with tracing.consuming(ENVELOPE, "t", 0, 0, [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]) as t:
        assert t is None


def test_the_otlp_endpoint_is_a_base_url_as_in_opentelemetry_s_own_variable() -> None:
    assert tracing.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"

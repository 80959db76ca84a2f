"""Logging for every process: one JSON object per line (or plain text), stamped with the message being handled.

The consumer sets the message context around each inbound message, so whatever logs while it is handled (the
kernel, a handler, a library) carries the message's correlation id without passing it along.
"""
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from shared.contracts.envelope import Envelope

_message: ContextVar[dict[str, str] | None] = ContextVar("nce_message", default=None)
_RECORD_FIELDS = {*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime"}


@contextlib.contextmanager
def message_context(envelope: Envelope | None, trace_id: str | None = None) -> Iterator[None]:
    """Stamp every log line written inside with the envelope's ids (and the trace id, when tracing)."""
    fields = {} if envelope is None else {
        "correlation_id": envelope.correlation_id,
        "message_id": str(envelope.id),
        "message_type": envelope.type,
        **({"causation_id": envelope.causation_id} if envelope.causation_id else {}),
    }
    if trace_id:
        fields["trace_id"] = trace_id
    token = _message.set(fields or None)
    try:
        yield
    finally:
        _message.reset(token)


def current() -> dict[str, str]:
    return dict(_message.get() or {})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, service, logger, message, the message context, and
    what a caller passed as `extra=` (FastStream's topic and group, say) under "extra"."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **current(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            _, line["method"], line["path"], _, line["status"] = record.args
        if extra := {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}:
            line["extra"] = extra
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the message context appended when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = super().formatMessage(record)
        context = current()
        return text + " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]" if context else text


def configure(service: str, level: str, fmt: str) -> None:
    """Route every logger (uvicorn's and FastStream's too) through one handler on stderr, in `fmt`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

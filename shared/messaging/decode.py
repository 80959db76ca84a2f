"""Turn a Kafka record into a validated (envelope, spec, data), or say why it can never be processed."""
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.contracts import MessageSpec, spec_for
from shared.contracts.envelope import Envelope
from shared.contracts.topics import BY_NAME
from shared.messaging.signing import Unauthenticated, Verifier


@dataclass(frozen=True)
class Record:
    """The part of a consumed Kafka record the kernel needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0  # when the broker took it (or the producer stamped it)

    @classmethod
    def of(cls, r: Any) -> "Record":
        """A header with a null value (Kafka allows one) reads as empty, as everything here expects bytes."""
        return cls(r.topic, r.partition, r.offset, r.key, r.value or b"",
                   tuple((k, v or b"") for k, v in r.headers or ()), r.timestamp or 0)

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


class PoisonError(Exception):
    """The message can never be processed; `envelope` is set when at least the envelope was readable."""

    def __init__(self, reason: str, envelope: Envelope | None = None, code: str = "INVALID_COMMAND") -> None:
        super().__init__(reason)
        self.reason = reason
        self.envelope = envelope
        self.code = code  # the rejection code a command parked for this reason gets

    @property
    def claims_id(self) -> bool:
        """Whether parking it may take its envelope's id in the inbox: not an unauthenticated one's, which could
        otherwise burn the id of a genuine command still to come."""
        return self.envelope is not None and self.code != "UNAUTHENTICATED"


@dataclass(frozen=True)
class Decoded:
    envelope: Envelope
    spec: MessageSpec
    data: BaseModel


def _errors(e: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()[:5]]
    return "; ".join(parts)


MARKER = "kernel.marker"  # published to every partition by the simulated clock to see consumers catch up


def decode(record: Record, max_bytes: int, verifier: Verifier | None = None) -> Decoded | None:
    """The message, validated; None for a kernel marker (nothing to do); PoisonError when it can never be handled,
    whatever in the record defeats reading it (JSON nested past the parser's depth, say): a record may not stop its
    partition.

    With a verifier, a command must be signed for (shared/messaging/signing.py) before its data is even looked at."""
    try:
        return _decode(record, max_bytes, verifier)
    except PoisonError:
        raise
    except Exception as e:
        raise PoisonError(f"unreadable: {type(e).__name__}: {str(e)[:200]}") from None


def _decode(record: Record, max_bytes: int, verifier: Verifier | None) -> Decoded | None:
    if len(record.value) > max_bytes:
        raise PoisonError(f"oversized: {len(record.value)} bytes, the limit is {max_bytes}")
    try:
        raw = json.loads(record.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PoisonError(f"not JSON: {e}") from None
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as e:
        raise PoisonError(f"invalid envelope: {_errors(e)}") from None
    if envelope.type == MARKER:
        return None
    topic = BY_NAME.get(record.topic)
    if verifier is not None and topic is not None and topic.carries_commands:  # before anything may claim its id
        try:
            verifier.verify(record.value, record.headers, record.timestamp, envelope)
        except Unauthenticated as e:
            raise PoisonError(f"unauthenticated: {e}", envelope, "UNAUTHENTICATED") from None
    spec = spec_for(envelope.type, envelope.version)
    if spec is None or spec.topic.name != record.topic:
        raise PoisonError(
            f"unknown message type {envelope.type!r} version {envelope.version} on {record.topic}", envelope,
            "UNKNOWN_COMMAND",
        )
    try:
        data = spec.model.model_validate(envelope.data)
    except ValidationError as e:
        raise PoisonError(f"invalid data for {envelope.type} v{envelope.version}: {_errors(e)}", envelope) from None
    return Decoded(envelope, spec, data)

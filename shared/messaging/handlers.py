"""How a service declares what it does with each inbound message type."""
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from shared.contracts import latest
from shared.contracts.envelope import Envelope
from shared.messaging.outbox import Row, envelope_for, envelope_row
from shared.rejection import CommandRejectedError


@dataclass
class Context:
    """What a handler gets besides the message data: its transaction, the stamped time and a way to emit.

    The kernel opens and ends the transaction on `conn` itself (BEGIN with the inbox claim, the outbox rows with the
    COMMIT): a handler never opens a transaction or savepoint of its own on it."""

    conn: asyncpg.Connection
    envelope: Envelope
    now: datetime
    service: str
    _outcome: Envelope | None = None
    _side_effects: list[tuple[str, BaseModel, str]] = field(default_factory=list)
    emitted: list[tuple[str, BaseModel]] = field(default_factory=list)  # for the metrics, once committed
    outbox: list[Row] = field(default_factory=list)  # written by the kernel with the commit, in emit order

    def require_operator(self) -> None:
        """Refuse the command unless the platform operator sent it (the catalog, price lists: not a partner's)."""
        if not (self.envelope.actor and self.envelope.actor.is_operator):
            raise CommandRejectedError(f"only the platform operator may send {self.envelope.type}", "FORBIDDEN")

    async def emit(self, type_: str, data: BaseModel, key: str, id: UUID | None = None) -> Envelope:
        """Add an event caused by the inbound message to the outbox (written with the commit, published after it)."""
        out = envelope_for(type_, data, occurred_at=self.now, source=self.service, cause=self.envelope, id=id)
        self.outbox.append(envelope_row(out, key))
        self._outcome = self._outcome or out
        self.emitted.append((type_, data))
        return out

    def emit_side_effect(self, type_: str, data: BaseModel, key: str) -> None:
        """An event the outcome brings with it (a scheduled change wiped by a quantity change, say): written after
        the handler, caused by the outcome, so each command keeps exactly one event caused by it."""
        self._side_effects.append((type_, data, key))

    async def flush_side_effects(self) -> None:
        for type_, data, key in self._side_effects:
            out = envelope_for(type_, data, occurred_at=self.now, source=self.service,
                               cause=self._outcome or self.envelope)
            self.outbox.append(envelope_row(out, key))
            self.emitted.append((type_, data))
        self._side_effects.clear()


Handler = Callable[[Context, Any], Awaitable[None]]


class Handlers:
    """A service's inbound wiring: the handler for each message type it consumes (one explicit place)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._by_type: dict[str, Handler] = {}
        self._when: dict[str, Callable[[Any], bool]] = {}

    def on(self, type_: str, *, when: Callable[[Any], bool] | None = None) -> Callable[[Handler], Handler]:
        """Register the handler of `type_`. `when` says from the message data alone whether the handler would do
        anything: a message it turns down is skipped without a transaction (an event; a command is always handled)."""
        spec = latest(type_)
        if when is not None and spec.topic.carries_commands:
            raise ValueError(f"{type_} is a command: it is always handled, never skipped")

        def register(fn: Handler) -> Handler:
            if spec.type in self._by_type:
                raise ValueError(f"{self.service} already handles {type_}")
            self._by_type[spec.type] = fn
            if when is not None:
                self._when[spec.type] = when
            return fn

        return register

    def get(self, type_: str) -> Handler | None:
        return self._by_type.get(type_)

    def wants(self, type_: str, data: Any) -> bool:
        """Whether the handler of `type_` (there is one) has anything to do with `data`."""
        when = self._when.get(type_)
        return when is None or when(data)

    @property
    def types(self) -> list[str]:
        return sorted(self._by_type)

    @property
    def topics(self) -> list[str]:
        return sorted({latest(t).topic.name for t in self._by_type})

"""The message envelope every topic carries (contract v1)."""
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts.common import refuse_nul

ENVELOPE_HEADERS = ("id", "type", "version", "correlation_id")


class Actor(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    partner_id: str | None = None
    roles: list[str] = Field(default_factory=list)

    @property
    def is_operator(self) -> bool:
        """The platform operator, who may act for any partner and alone runs the catalog and price lists: no partner
        and the operator's role (a partner's actor holding that role is still only that partner)."""
        return self.partner_id is None and OPERATOR_ROLE in self.roles


OPERATOR_ROLE = "GlobalAdmin"
OPERATOR = Actor(partner_id=None, roles=[OPERATOR_ROLE])


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID
    type: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    correlation_id: str = Field(min_length=1, max_length=200)
    causation_id: str | None = Field(None, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    actor: Actor | None = None
    data: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, raw: Any) -> Any:
        """NUL in the envelope's own fields (stored and sent as headers) makes it unreadable; in `data` it is the
        data model's to refuse, so a readable command still gets its rejection."""
        if isinstance(raw, dict):
            refuse_nul({k: v for k, v in raw.items() if k != "data"})
        return raw

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers repeating the routing fields of the envelope."""
        return [
            ("id", str(self.id).encode()),
            ("type", self.type.encode()),
            ("version", str(self.version).encode()),
            ("correlation_id", self.correlation_id.encode()),
        ]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def new_envelope(
    *,
    id: UUID,
    type: str,
    data: dict[str, Any],
    occurred_at: datetime,
    source: str,
    version: int = 1,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    actor: Actor | None = None,
) -> Envelope:
    return Envelope(
        id=id,
        type=type,
        version=version,
        occurred_at=occurred_at,
        correlation_id=correlation_id or str(id),
        causation_id=causation_id,
        source=source,
        actor=actor,
        data=data,
    )

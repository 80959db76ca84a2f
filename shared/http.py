"""Small pieces every service's HTTP API uses."""
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from starlette.responses import JSONResponse


def row_json(row: asyncpg.Record) -> dict[str, Any]:
    """A database row as JSON: dates ISO 8601, money as decimal strings (never floats), UUIDs as text."""
    out = {}
    for k, v in dict(row).items():
        out[k] = v.isoformat() if isinstance(v, date | datetime) else str(v) if isinstance(v, Decimal | UUID) else v
    return out


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def instant(text: str | None, default: datetime) -> datetime | JSONResponse:
    """An `at=` query parameter as an aware UTC instant (a bare date means 00:00Z), or a 400 saying why."""
    if not text:
        return default
    if len(text) == 10:  # a bare date stands for its 00:00Z
        text += "T00:00:00Z"
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        return error(400, f"at must be an ISO 8601 instant such as 2025-01-15T10:00:00Z, not {text!r}")
    if value.tzinfo is None:
        return error(400, "at must carry a UTC offset, e.g. 2025-01-15T10:00:00Z")
    return value.astimezone(UTC)

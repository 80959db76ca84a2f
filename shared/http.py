"""Small pieces every service's HTTP API uses."""
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def row_json(row: asyncpg.Record) -> dict[str, Any]:
    """A database row as JSON: dates ISO 8601, money as decimal strings (never floats), UUIDs as text."""
    out = {}
    for k, v in dict(row).items():
        out[k] = v.isoformat() if isinstance(v, date | datetime) else str(v) if isinstance(v, Decimal | UUID) else v
    return out


def whole(text: str) -> bool:
    """Whether a query parameter is a whole number `int()` reads: ASCII digits only ('²'.isdigit() is true)."""
    return text.isascii() and text.isdigit()


class RefuseNul:
    """ASGI middleware: a request with a NUL character in its path or query is a 400 (PostgreSQL text cannot
    hold one, so any lookup with it failed with a 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]
                                        or b"\x00" in scope["query_string"]):
            response = error(400, "the request's path or query holds a NUL character")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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

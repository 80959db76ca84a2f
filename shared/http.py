"""Small pieces every service's HTTP API uses."""
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from starlette.responses import JSONResponse


def row_json(row: asyncpg.Record) -> dict[str, Any]:
    """A database row as JSON: dates ISO 8601, money as decimal strings (never floats)."""
    out = {}
    for k, v in dict(row).items():
        out[k] = v.isoformat() if isinstance(v, date | datetime) else str(v) if isinstance(v, Decimal) else v
    return out


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)

"""Operator reads every service serves from its kernel tables: refused commands and dead-lettered messages."""
from collections.abc import Callable

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.auth import operator_only
from shared.http import row_json

_LATEST = 20


def routes(service: str, database: Callable[[], asyncpg.Pool]) -> list[BaseRoute]:
    async def rejections(request: Request) -> JSONResponse:
        """---
        summary: Commands this service refused, by type and code, and the latest 20 with their reasons
        responses:
          '200': {description: 'by_code: [{type, code, n, last}], latest: [{message_id, type, code, message, partner_id, correlation_id, rejected_at}]'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '403': {$ref: '#/components/responses/Forbidden'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        if (refused := operator_only(request)) is not None:
            return refused
        db = database()
        by_code = await db.fetch("SELECT type, code, count(*) AS n, max(rejected_at) AS last FROM rejections"
                                 " GROUP BY 1, 2 ORDER BY n DESC, code")
        latest = await db.fetch(f"SELECT * FROM rejections ORDER BY id DESC LIMIT {_LATEST}")
        return JSONResponse({"service": service, "by_code": [row_json(r) for r in by_code],
                             "latest": [{**row_json(r), "service": service} for r in latest]})

    async def dead_letters(request: Request) -> JSONResponse:
        """---
        summary: Messages this service parked in a dead-letter topic, the total and the latest 20 with their reasons
        responses:
          '200': {description: 'total, latest: [{topic, partition, offset, reason, message_id, type, parked_at}]'}
          '401': {$ref: '#/components/responses/Unauthorized'}
          '403': {$ref: '#/components/responses/Forbidden'}
          '503': {$ref: '#/components/responses/NotReady'}
        """
        if (refused := operator_only(request)) is not None:
            return refused
        db = database()
        total = await db.fetchval("SELECT count(*) FROM dead_letters")
        latest = await db.fetch(f"SELECT * FROM dead_letters ORDER BY id DESC LIMIT {_LATEST}")
        return JSONResponse({"service": service, "total": total,
                             "latest": [{**row_json(r), "service": service} for r in latest]})

    return [Route("/ops/rejections", rejections), Route("/ops/dead-letters", dead_letters)]

"""Bearer tokens on HTTP reads (contract): an operator token sees everything, a partner token only its own partner.

Tokens come from settings and are never defaulted: with none configured, every read is refused with 401.
`/healthz`, `/readyz`, `/metrics`, the API documents and the dashboard page (it asks for a token) stay open.
"""
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.settings import TokenSettings

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/asyncapi", "/openapi.json", "/", "/dashboard"})
OPEN_PREFIXES = ("/asyncapi/", "/openapi/")  # the gateway's per-service documents


@dataclass(frozen=True)
class Reader:
    """Who is reading: `partner_id` None is the operator."""

    partner_id: str | None

    @property
    def operator(self) -> bool:
        return self.partner_id is None


class Tokens:
    def __init__(self, settings: TokenSettings) -> None:
        self._known = [(t.get_secret_value().encode(), Reader(p)) for p, t in settings.partner_tokens.items()]
        if settings.operator_token is not None:
            self._known.append((settings.operator_token.get_secret_value().encode(), Reader(None)))

    def reader(self, authorization: str | None) -> Reader | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = token.strip().encode()
        found = None
        for known, reader in self._known:  # compare with every token, in constant time, so timing tells nothing
            if hmac.compare_digest(given, known):
                found = reader
        return found


class BearerAuth:
    """ASGI middleware: puts the `Reader` on `request.state.reader`, or answers 401 before any route runs."""

    def __init__(self, app: ASGIApp, tokens: Tokens) -> None:
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        reader = self.tokens.reader(request.headers.get("authorization"))
        if reader is None:
            why = ("a bearer token is required: send 'Authorization: Bearer <token>' (NCE_OPERATOR_TOKEN or a "
                   "partner token)" if "authorization" not in request.headers else "the bearer token is not valid")
            await JSONResponse({"error": why}, 401, headers={"www-authenticate": 'Bearer realm="nce"'})(
                scope, receive, send)
            return
        scope.setdefault("state", {})["reader"] = reader
        await self.app(scope, receive, send)


def reader(request: Request) -> Reader:
    return request.state.reader  # type: ignore[no-any-return]


def operator_only(request: Request) -> JSONResponse | None:
    """None for the operator; a 403 saying why for a partner token."""
    if reader(request).operator:
        return None
    return JSONResponse({"error": "this read needs the operator token; a partner token sees only its own data"}, 403)


def sees(request: Request, partner_id: str | None) -> bool:
    """Whether the reader may see data of `partner_id` (a partner reading another's gets 404, as if it did not exist)."""
    r = reader(request)
    return r.operator or r.partner_id == partner_id

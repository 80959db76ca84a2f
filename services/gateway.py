"""One HTTP entry point: every service's paths on one port (as in the contract), the operator reads that span all
services (`/ops/...`) and the dashboard page. `nce up` serves it; `nce dashboard` runs it on its own."""
import asyncio
import contextlib
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from shared.auth import BearerAuth, Tokens, operator_only

DASHBOARD = Path(__file__).parent / "dashboard.html"
from shared.settings import DEFAULT_PORTS, SERVICES

ROUTES = {
    "/catalog": "catalog",
    "/pricing": "pricing",
    "/subscriptions": "subscription",
    "/billing": "billing",
    "/clock": "scheduler",
    "/scheduler": "scheduler",
}


def service_for(path: str) -> str | None:
    for prefix, service in ROUTES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def service_urls(overrides: list[str]) -> dict[str, str]:
    """Each service's base URL: `http://NAME:PORT` (compose and Kubernetes names) unless given as NAME=URL."""
    urls = {name: f"http://{name}:{DEFAULT_PORTS[name]}" for name in SERVICES}
    for pair in overrides:
        name, sep, url = pair.partition("=")
        if not sep or name not in urls or not url.startswith(("http://", "https://")):
            raise ValueError(f"{pair!r}: expected NAME=http://HOST:PORT, NAME one of {', '.join(SERVICES)}")
        urls[name] = url.rstrip("/")
    return urls


def merge_metrics(texts: list[str]) -> str:
    """One exposition from several services' (each family's samples kept together, as the format requires)."""
    families: dict[str, tuple[str, str, list[str]]] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            name = f"{fam.name}_total" if fam.type == "counter" else fam.name  # the parser strips _total
            _, _, lines = families.setdefault(name, (fam.type, fam.documentation, []))
            for s in fam.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{s.name}{{{labels}}} {s.value}")
    out = []
    for name, (kind, doc, lines) in families.items():
        out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", *lines]
    return "\n".join(out) + "\n"


def _status_figures(text: str) -> dict[str, float]:
    """From one service's exposition, in one pass: messages applied and rejected, outbox backlog, consumer lag."""
    out = dict.fromkeys(("handled", "rejected", "outbox_backlog", "consumer_lag"), 0.0)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "nce_messages_handled_total" and s.labels.get("outcome") in ("applied", "rejected"):
                out["handled" if s.labels["outcome"] == "applied" else "rejected"] += s.value
            elif s.name in ("nce_outbox_backlog", "nce_consumer_lag"):
                out[s.name.removeprefix("nce_")] += s.value
    return out


def build_gateway(urls: dict[str, str], tokens: Tokens) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(900.0, connect=2.0))  # POST /clock may take long

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> JSONResponse:
        async def one(name: str) -> tuple[str, bool]:
            try:
                return name, (await client.get(urls[name] + "/readyz", timeout=3)).status_code == 200
            except httpx.HTTPError:
                return name, False

        checks = dict(await asyncio.gather(*(one(n) for n in urls)))
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "services": checks}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        async def one(url: str) -> str:
            try:
                return (await client.get(url + "/metrics", timeout=3)).text
            except httpx.HTTPError:
                return ""

        texts = await asyncio.gather(*(one(u) for u in urls.values()))
        return Response(merge_metrics(list(texts)), media_type="text/plain; version=0.0.4")

    async def fan_out(request: Request, path: str) -> dict[str, dict] | Response:  # type: ignore[type-arg]
        """GET `path` from every service with the caller's token; the first refusal is the answer."""
        auth = {"authorization": request.headers.get("authorization", "")}

        async def one(name: str) -> tuple[str, httpx.Response | None]:
            try:
                return name, await client.get(urls[name] + path, headers=auth, timeout=5)
            except httpx.HTTPError:
                return name, None

        out = {}
        for name, answer in await asyncio.gather(*(one(n) for n in urls)):
            if answer is not None and answer.status_code in (401, 403):
                return Response(answer.content, answer.status_code, media_type="application/json")
            out[name] = answer.json() if answer is not None and answer.status_code == 200 else None
        return out

    async def rejections(request: Request) -> Response:
        found = await fan_out(request, "/ops/rejections")
        if isinstance(found, Response):
            return found
        by_code = [{**r, "service": n} for n, body in found.items() if body for r in body["by_code"]]
        latest = sorted((r for body in found.values() if body for r in body["latest"]),
                        key=lambda r: r["rejected_at"], reverse=True)[:20]
        return JSONResponse({"by_code": sorted(by_code, key=lambda r: -r["n"]), "latest": latest,
                             "total": sum(r["n"] for r in by_code), "unanswered": [n for n, b in found.items() if not b]})

    async def dead_letters(request: Request) -> Response:
        found = await fan_out(request, "/ops/dead-letters")
        if isinstance(found, Response):
            return found
        latest = sorted((r for body in found.values() if body for r in body["latest"]),
                        key=lambda r: r["parked_at"], reverse=True)[:20]
        return JSONResponse({"total": sum(b["total"] for b in found.values() if b),
                             "by_service": {n: b["total"] for n, b in found.items() if b}, "latest": latest,
                             "unanswered": [n for n, b in found.items() if not b]})

    async def status(request: Request) -> Response:
        """Each service's readiness checks and, from its metrics, messages handled, outbox backlog, consumer lag."""
        if (refused := operator_only(request)) is not None:
            return refused

        async def one(name: str) -> tuple[str, dict]:  # type: ignore[type-arg]
            try:
                ready, text = await asyncio.gather(client.get(urls[name] + "/readyz", timeout=3),
                                                   client.get(urls[name] + "/metrics", timeout=3))
            except httpx.HTTPError as e:
                return name, {"ready": False, "error": f"not answering: {type(e).__name__}"}
            return name, {"ready": ready.status_code == 200, "checks": ready.json().get("checks", {}),
                          **_status_figures(text.text)}

        return JSONResponse({"services": dict(await asyncio.gather(*(one(n) for n in urls)))})

    async def dashboard(request: Request) -> Response:
        return FileResponse(DASHBOARD, media_type="text/html")

    async def proxy(request: Request) -> Response:
        service = service_for(request.url.path)
        if service is None:
            return JSONResponse({"error": f"no such path: {request.url.path}"}, status_code=404)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        try:
            upstream = await client.request(
                request.method, urls[service] + request.url.path, params=request.query_params,
                content=await request.body(), headers=headers,
            )
        except httpx.HTTPError as e:
            return JSONResponse({"error": f"{service} is not answering: {e!r}"}, status_code=503)
        keep = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type",)}
        return Response(upstream.content, status_code=upstream.status_code, headers=keep)

    def service_doc(path: str):  # type: ignore[no-untyped-def]
        """A service's own document (`path`) at /asyncapi/SERVICE or /openapi/SERVICE.json here."""

        async def endpoint(request: Request) -> Response:
            service = request.path_params["service"]
            if service not in urls:
                return JSONResponse({"error": f"no such service: {service}"}, status_code=404)
            try:
                upstream = await client.get(urls[service] + path)
            except httpx.HTTPError as e:
                return JSONResponse({"error": f"{service} is not answering: {e!r}"}, status_code=503)
            return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")

        return endpoint

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/dashboard", dashboard),
            Route("/", lambda request: RedirectResponse("/dashboard")),
            Route("/ops/rejections", rejections),
            Route("/ops/dead-letters", dead_letters),
            Route("/ops/status", status),
            Route("/asyncapi/{service}", service_doc("/asyncapi")),
            Route("/openapi/{service}.json", service_doc("/openapi.json")),
            Route("/{path:path}", proxy, methods=["GET", "POST", "PUT", "DELETE"]),
        ],
        middleware=[Middleware(BearerAuth, tokens=tokens)],
        lifespan=_closing(client),
    )


def _closing(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        try:
            yield
        finally:
            await client.aclose()

    return lifespan

"""One HTTP entry point for `nce up`: every service's paths on one port, as in the contract."""
import asyncio
import contextlib

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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


def build_gateway(urls: dict[str, str]) -> Starlette:
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

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/{path:path}", proxy, methods=["GET", "POST", "PUT", "DELETE"]),
        ],
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

"""A service process: HTTP first (so /healthz answers at once), then database and broker, retried until they come.

The composition root of each service (`services/<name>/app.py`) builds a `ServiceDef`; `serve` runs it.
"""
import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
import uvloop
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.auth import BearerAuth, Tokens
from shared.http import RefuseNul
from shared import ops
from shared import logs, tracing
from shared.clock import Clock, SystemClock, join_simulation
from shared.contracts.asyncapi import document as asyncapi_document
from shared.contracts.topics import BY_NAME, TOPICS
from shared.db.migrate import migrate
from shared.db.pool import connect as connect_db
from shared.db.pool import create_pool
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from shared.messaging.handlers import Handlers
from shared.messaging.kafka import ensure_topics, make_broker, make_producer, pace_s, paced, subscribe
from shared.messaging.lag import ConsumerLag
from shared.messaging.relay import Relay
from shared.messaging.signing import Verifier
from shared.openapi import document as openapi_document
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
_SCRAPE_TIMEOUT_S = 2.0


@dataclass
class Runtime:
    """The live parts of a running service, handed to its HTTP routes and background tasks."""

    settings: ServiceSettings
    clock: Clock
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    broker: KafkaBroker | None = None
    relay: Relay | None = None
    lag: ConsumerLag | None = None
    consuming: bool = False
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise NotReadyError("the database is not connected yet")
        return self.pool


class NotReadyError(RuntimeError):
    """A read arrived before the service reached its database; answered 503."""


class _ClockNotYetRead:
    """The simulated clock lives in the database; until it is connected there is no time to tell."""

    async def now(self) -> datetime:
        raise NotReadyError("the simulated clock is read from the database, which is not connected yet")


@dataclass(frozen=True)
class ServiceDef:
    name: str
    handlers: Handlers
    migrations: Path
    routes: Callable[[Runtime], list[BaseRoute]] = lambda rt: []
    background: tuple[Callable[[Runtime], Awaitable[None]], ...] = ()
    gauges: tuple[Callable[[Runtime], Awaitable[None]], ...] = ()  # brought up to date when /metrics is scraped


async def _until_done(what: str, attempt: Callable[[], Awaitable[Any]], max_backoff: float) -> Any:
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("%s failed (attempt %d): %r; retrying", what, tries, e)
            await asyncio.sleep(min(max_backoff, 0.2 * 2 ** min(tries, 8)))


async def connect(defn: ServiceDef, rt: Runtime) -> None:
    s = rt.settings
    backoff = s.retry_max_backoff_s

    async def database() -> asyncpg.Pool:
        pool = await create_pool(s.database_url.get_secret_value(), s.schema, s.db_pool_max)
        try:
            await migrate(pool, s.schema, defn.migrations)
        except BaseException:
            await pool.close()
            raise
        return pool

    rt.pool = await _until_done("database connect and migrate", database, backoff)
    if s.clock == "simulated":
        assert s.clock_start is not None
        rt.clock = await join_simulation(rt.pool, s.clock_start, defn.name, s.group_id, s.schema, defn.handlers.topics)
    await _until_done("topic creation", lambda: ensure_topics(s, [t.name for t in TOPICS], f"nce-{s.service}-admin"),
                      backoff)

    async def producer() -> AIOKafkaProducer:
        p = make_producer(s)
        try:
            await p.start()
        except BaseException:
            await p.stop()
            raise
        return p

    rt.producer = await _until_done("producer start", producer, backoff)
    url = s.database_url.get_secret_value()
    rt.relay = Relay(lambda: connect_db(url, s.schema), rt.producer, defn.name, max_backoff_s=backoff)
    rt.tasks.append(asyncio.create_task(rt.relay.run(), name=f"{defn.name}-relay"))
    for task in defn.background:
        rt.tasks.append(asyncio.create_task(task(rt), name=f"{defn.name}-{task.__name__}"))
    if defn.handlers.topics:
        rt.lag = ConsumerLag(rt.producer, s, defn.name, s.group_id, defn.handlers.topics,
                             s.lag_min_interval_s)
        consumer = Consumer(
            defn.handlers, rt.pool, rt.clock, max_bytes=s.max_message_bytes, max_backoff_s=backoff,
            on_commit=rt.relay.wake.set, kill_after_commit=s.fault_kill_after_commit,
            verifier=Verifier(s.verification_keys(), lambda: datetime.now(UTC),  # tokens live in wall time
                              scopes=s.command_scopes),
        )

        pace = pace_s(s, defn.handlers.topics)

        async def broker() -> KafkaBroker:
            b = make_broker(s)

            async def on_batch() -> None:
                # The batch comes from FastStream's context, not a `message: KafkaMessage` parameter: injecting one
                # runs a synchronous resolver in a worker thread for every batch (~14 % of a light consumer's CPU).
                message: KafkaMessage = b.context.get_local("message")
                records = [Record.of(r) for r in message.raw_message]
                # FastStream reads again when this returns (and, paced, not before)
                async with paced(subscriber.consumer, pace, len(records) >= s.consumer_max_records):
                    await consumer.handle_batch(records)

            subscriber = subscribe(b, s, defn.handlers.topics, on_batch)
            try:
                await b.start()
            except BaseException:
                await b.stop()
                raise
            return b

        rt.broker = await _until_done("consumer start", broker, backoff)
    rt.consuming = True
    # What starting made (modules, models, schemas, clients) lives as long as the process. Frozen out of the cyclic
    # collector's sight, a full collection walks only what handling messages keeps: under steady load a full
    # collection stopped a service for 51–72 ms before, 2–4 ms after (bench/HISTORY.md)
    gc.collect()
    gc.freeze()
    log.info("%s is ready: schema %s, group %s, topics %s", defn.name, s.schema, s.group_id, defn.handlers.topics)


async def readiness(rt: Runtime) -> dict[str, bool]:
    async def db_ok() -> bool:
        if rt.pool is None:
            return False
        await asyncio.wait_for(rt.pool.fetchval("SELECT 1"), 1)
        return True

    async def broker_ok() -> bool:
        if rt.producer is None:
            return False
        await asyncio.wait_for(rt.producer.client.fetch_all_metadata(), 2)
        return True

    checks = {}
    for name, check in (("database", db_ok), ("broker", broker_ok)):
        try:
            checks[name] = await check()
        except Exception:
            checks[name] = False
    checks["consumer"] = rt.consuming
    return checks


def build_app(defn: ServiceDef, rt: Runtime) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        """---
        summary: Liveness
        security: []
        responses:
          '200': {description: 'The process answers: {"status": "alive", "service": ...}'}
        """
        return JSONResponse({"status": "alive", "service": defn.name})

    async def readyz(request: Request) -> JSONResponse:
        """---
        summary: Readiness (database and broker reachable, consumer started)
        security: []
        responses:
          '200': {description: 'Ready: {"ready": true, "service": ..., "checks": {"database": true, ...}}'}
          '503': {description: 'Not ready; `checks` says what is missing'}
        """
        checks = await readiness(rt)
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "service": defn.name, "checks": checks}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        """---
        summary: Prometheus metrics
        security: []
        responses:
          '200': {description: Prometheus text exposition, content: {text/plain: {schema: {type: string}}}}
        """
        await refresh_gauges(defn, rt)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def asyncapi(request: Request) -> JSONResponse:
        """---
        summary: The AsyncAPI 3.0 document of the messages this service consumes and publishes
        security: []
        responses:
          '200': {description: AsyncAPI document, content: {application/json: {schema: {type: object}}}}
        """
        return JSONResponse(asyncapi_document(defn.name, defn.handlers.types))

    async def openapi(request: Request) -> JSONResponse:
        """---
        summary: This OpenAPI document
        security: []
        responses:
          '200': {description: OpenAPI document, content: {application/json: {schema: {type: object}}}}
        """
        return JSONResponse(openapi_document(defn.name, request.app.routes))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        connecting = asyncio.create_task(connect(defn, rt), name=f"{defn.name}-connect")
        try:
            yield
        finally:
            await shutdown(rt, connecting)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *ops.routes(defn.name, rt.db),
        Route("/asyncapi", asyncapi),
        Route("/openapi.json", openapi),
        *defn.routes(rt),
    ]
    async def not_ready(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        """No such path (an id holding an encoded '/' included) or method: a JSON reason, as every other 4xx."""
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": f"{exc.detail}: {request.method} {request.url.path}"},
                            status_code=exc.status_code, headers=exc.headers)

    tokens = Tokens(rt.settings)
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={NotReadyError: not_ready, HTTPException: http_error},
                    middleware=[Middleware(RefuseNul), Middleware(BearerAuth, tokens=tokens)])
    app.router.redirect_slashes = False  # else an id ending in an encoded '/' is redirected to another id
    return app


async def refresh_gauges(defn: ServiceDef, rt: Runtime) -> None:
    """Measure what is measured at scrape time; a slow or failing measurement leaves the last values standing."""
    work = [gauge(rt) for gauge in defn.gauges] + ([rt.lag.refresh()] if rt.lag is not None else [])
    try:
        results = await asyncio.wait_for(asyncio.gather(*work, return_exceptions=True), _SCRAPE_TIMEOUT_S)
    except TimeoutError:
        log.warning("%s: gauges not measured within %ss", defn.name, _SCRAPE_TIMEOUT_S)
        return
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, NotReadyError):
            log.warning("%s: a gauge could not be measured: %r", defn.name, result)


async def shutdown(rt: Runtime, connecting: asyncio.Task[None]) -> None:
    connecting.cancel()
    if rt.broker is not None:
        await rt.broker.stop()
    for task in rt.tasks:
        task.cancel()
    await asyncio.gather(connecting, *rt.tasks, return_exceptions=True)
    if rt.lag is not None:
        await rt.lag.close()
    if rt.producer is not None:
        await rt.producer.stop()
    if rt.pool is not None:
        await rt.pool.close()


def serve(defn: ServiceDef, settings: ServiceSettings) -> None:
    """Run one service until SIGINT/SIGTERM, then stop it cleanly."""
    logs.configure(defn.name, settings.log_level, settings.log_format)
    tracing.configure(settings, defn.name)
    if any(BY_NAME[t].carries_commands for t in defn.handlers.topics) and not settings.command_keys:
        log.warning("%s: no NCE_COMMAND_KEYS: every command will be refused as unauthenticated", defn.name)
    rt = Runtime(settings=settings, clock=SystemClock() if settings.clock == "system" else _ClockNotYetRead())
    config = uvicorn.Config(
        build_app(defn, rt), host=settings.http_host, port=settings.http_port, lifespan="on",
        log_config=None,  # uvicorn's loggers go through ours
        log_level="info" if settings.access_log else "warning", access_log=settings.access_log,
    )
    uvloop.run(uvicorn.Server(config).serve())  # libuv's loop: a message's many small awaits cost less CPU

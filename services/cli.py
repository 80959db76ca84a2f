"""The `nce` command line."""
import importlib
import json
import os
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from shared.contracts.envelope import Actor
from shared.settings import SERVICES, KafkaSettings, ServiceSettings

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="nce: new-commerce licensing backend")
STATE_FILE = "up.json"


def service_def(name: str) -> Any:
    return importlib.import_module(f"services.{name}.app").SERVICE


@app.command()
def run(service: Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")]) -> None:
    """Run one service (its consumer group, schema and HTTP port) until SIGINT/SIGTERM."""
    if service not in SERVICES:
        typer.echo(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    try:
        settings = ServiceSettings(service=service)
    except ValidationError as e:
        typer.echo(f"invalid settings for {service}:\n{e}", err=True)
        raise typer.Exit(2) from None
    from shared.runtime import serve

    serve(service_def(service), settings)


@app.command()
def topics(
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers (default: NCE_KAFKA_BOOTSTRAP)")] = None,
) -> None:
    """Create the missing contract topics and their .dlq topics (each service also does at start)."""
    import asyncio

    from shared.contracts.topics import TOPICS
    from shared.messaging.kafka import ensure_topics

    try:
        settings = KafkaSettings(kafka_bootstrap=_require_bootstrap(kafka))
    except ValidationError as e:
        typer.echo(f"invalid settings:\n{e}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(ensure_topics(settings, [t.name for t in TOPICS], "nce-topics"))
    typer.echo(f"{len(TOPICS)} topics and their .dlq topics exist")


@app.command()
def gateway(
    port: Annotated[int, typer.Option(help="the HTTP port")] = 8080,
    service_url: Annotated[list[str] | None, typer.Option(
        help="NAME=URL of a service; default http://NAME:PORT (compose or Service name, default port)")] = None,
) -> None:
    """Serve every service's contract paths and the dashboard (/dashboard) on one port, as `nce up` does, in front
    of separately run services. Reads need NCE_OPERATOR_TOKEN or a partner token (NCE_PARTNER_TOKENS)."""
    import uvicorn

    from services.gateway import build_gateway, service_urls
    from shared.auth import Tokens
    from shared.settings import TokenSettings

    try:
        urls = service_urls(service_url or [])
        tokens = Tokens(TokenSettings())
    except (ValueError, ValidationError) as e:
        typer.echo(f"usage error: {e}", err=True)
        raise typer.Exit(2) from None
    host = os.environ.get("NCE_HTTP_HOST", "127.0.0.1")
    typer.echo(f"API and dashboard at http://{host}:{port}/dashboard over "
               + ", ".join(f"{n} {u}" for n, u in urls.items()), err=True)
    uvicorn.run(build_gateway(urls, tokens), host=host, port=port, log_level="warning")


@app.command()
def up(
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers of a real Kafka")] = None,
    database: Annotated[str | None, typer.Option(help="URL of a real PostgreSQL")] = None,
    port: Annotated[int, typer.Option(help="the one HTTP port for every service's paths")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="where data, logs and state live")] = Path(".nce"),
    clock: Annotated[str, typer.Option(help="system or simulated")] = "system",
    start: Annotated[str | None, typer.Option(help="simulated clock start, e.g. 2025-01-01T00:00:00Z")] = None,
    sample: Annotated[bool, typer.Option(help="load the shipped sample data on first start")] = True,
) -> None:
    """Run the whole system on this machine: broker, database, the five services and one HTTP entry point."""
    from services.up import run_up

    raise typer.Exit(run_up(kafka=kafka, database=database, port=port, data_dir=data_dir.resolve(), clock=clock,
                            start=start, sample=sample))


def _from_up(field: str) -> str | None:
    state = Path(".nce") / STATE_FILE
    return json.loads(state.read_text()).get(field) if state.exists() else None


def _require_bootstrap(kafka: str | None) -> str:
    bootstrap = kafka or os.environ.get("NCE_KAFKA_BOOTSTRAP") or _from_up("kafka_bootstrap")
    if not bootstrap:
        typer.echo("usage error: no broker: pass --kafka, set NCE_KAFKA_BOOTSTRAP or start `nce up`", err=True)
        raise typer.Exit(2)
    return bootstrap


def _require_database(database: str | None) -> str:
    url = database or os.environ.get("NCE_DATABASE_URL") or _from_up("database_url")
    if not url:
        typer.echo("usage error: no database: pass --database, set NCE_DATABASE_URL or start `nce up`", err=True)
        raise typer.Exit(2)
    return url


def _trace_as_cli() -> None:
    """Commands sent from here start their traces, when NCE_OTEL_ENDPOINT or NCE_OTEL_CONSOLE asks for tracing."""
    from shared import tracing
    from shared.settings import ObservabilitySettings

    tracing.configure(ObservabilitySettings(), "cli")


@app.command()
def send(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="command type, e.g. subscription.purchase")],
    data: Annotated[str, typer.Option(help="the command's data as JSON")],
    actor: Annotated[str | None, typer.Option(help='JSON, default {"partner_id": null, "roles": ["GlobalAdmin"]}')] = None,
    id: Annotated[str | None, typer.Option(help="message id (UUID); re-sending one id has no second effect")] = None,
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers (default: NCE_KAFKA_BOOTSTRAP or nce up)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the outcome")] = 30.0,
) -> None:
    """Publish a command and print its outcome event: exit 0 success, 1 rejected, 2 usage error, timeout or no
    broker reachable."""
    from services.send import BrokerUnreachableError, UsageError, command, is_rejection, run_send, signer

    try:
        payload = json.loads(data)
        who = Actor.model_validate(json.loads(actor)) if actor else None
        message_id = uuid.UUID(id) if id else uuid.uuid4()
        if not isinstance(payload, dict):
            raise ValueError("--data must be a JSON object")
        envelope = command(type_, payload, who, message_id)
        signed_by = signer(_from_up("command_signing_key"))
    except (ValueError, ValidationError, UsageError) as e:
        typer.echo(f"usage error: {e}", err=True)
        raise typer.Exit(2) from None
    _trace_as_cli()
    try:
        # a re-sent id has no second outcome: its one outcome may be of any age, so it is looked for from the events
        # topics' start (what the broker still keeps)
        outcome = run_send(_require_bootstrap(kafka), envelope, timeout, signed_by, since_ms=0 if id else None)
    except BrokerUnreachableError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if outcome is None:
        typer.echo(f"timeout: no outcome for {message_id} within {timeout}s", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(outcome, indent=2))
    raise typer.Exit(1 if is_rejection(outcome) else 0)


@app.command()
def docs(out: Annotated[Path, typer.Option(help="the folder to write them to")] = Path("docs")) -> None:
    """Write every service's AsyncAPI (asyncapi-SERVICE.json) and OpenAPI (openapi-SERVICE.json) documents."""
    from services.docs import write

    for path in write(out):
        typer.echo(path)


catalog_app = typer.Typer(help="the offer matrix")
pricelist_app = typer.Typer(help="Partner Center price lists")
promotions_app = typer.Typer(help="promotions")
fx_app = typer.Typer(help="monthly FX rates")
for name, sub in (("catalog", catalog_app), ("pricelist", pricelist_app), ("promotions", promotions_app),
                  ("fx", fx_app)):
    app.add_typer(sub, name=name)

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
DatabaseOpt = Annotated[str | None, typer.Option(help="pricing's database (default: NCE_DATABASE_URL or nce up)")]


@catalog_app.command("import")
def catalog_import(
    file: FileArg,
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers (default: NCE_KAFKA_BOOTSTRAP or nce up)")] = None,
    timeout: float = 60.0,
) -> None:
    """Load an offer matrix (YAML) by sending one catalog command per offer and EOS rule."""
    from services.imports import import_catalog
    from services.send import UsageError, signer

    try:
        signed_by = signer(_from_up("command_signing_key"))
    except (ValidationError, UsageError) as e:
        typer.echo(f"usage error: {e}", err=True)
        raise typer.Exit(2) from None
    _trace_as_cli()
    raise typer.Exit(import_catalog(file, _require_bootstrap(kafka), timeout, signed_by))


@pricelist_app.command("import")
def pricelist_import(
    file: FileArg,
    market: Annotated[str, typer.Option(help="the market (ISO-2) the file is for")],
    skip_invalid: Annotated[bool, typer.Option(help="store the valid rows even when some are invalid")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Import a Partner Center NCE license-based price list CSV for one market (idempotent)."""
    from services.imports import import_pricelist

    raise typer.Exit(import_pricelist(file, market, skip_invalid, _require_database(database)))


@promotions_app.command("import")
def promotions_import(file: FileArg, database: DatabaseOpt = None) -> None:
    """Import promotions (YAML)."""
    from services.imports import import_reference

    raise typer.Exit(import_reference("promotions", file, _require_database(database)))


@fx_app.command("import")
def fx_import(file: FileArg, database: DatabaseOpt = None) -> None:
    """Import monthly FX rates (CSV: month,from_currency,to_currency,rate)."""
    from services.imports import import_reference

    raise typer.Exit(import_reference("fx", file, _require_database(database)))


clock_app = typer.Typer(help="the simulated clock (nce up --clock simulated)")
app.add_typer(clock_app, name="clock")
UrlOpt = Annotated[str | None, typer.Option(help="the system's URL (default: the running nce up)")]


def _auth() -> dict[str, str]:
    """The operator's bearer token: NCE_OPERATOR_TOKEN, else the one the running `nce up` generated."""
    token = os.environ.get("NCE_OPERATOR_TOKEN") or _from_up("operator_token")
    return {"authorization": f"Bearer {token}"} if token else {}


def _clock(url: str | None, to: str | None) -> None:
    import httpx

    base = url or _from_up("url")
    if not base:
        typer.echo("usage error: no system: pass --url or start `nce up --clock simulated`", err=True)
        raise typer.Exit(2)
    try:
        response = (httpx.post(base + "/clock", json={"to": to}, timeout=3600, headers=_auth()) if to
                    else httpx.get(base + "/clock", timeout=10, headers=_auth()))
    except httpx.HTTPError as e:
        typer.echo(f"the system does not answer at {base}: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(response.json(), indent=2))
    raise typer.Exit(0 if response.status_code == 200 else 1)


@clock_app.command("show")
def clock_show(url: UrlOpt = None) -> None:
    """Print the simulated time."""
    _clock(url, None)


@clock_app.command("set")
def clock_set(to: Annotated[str, typer.Argument(help="an instant, e.g. 2025-03-01T00:00:00Z")], url: UrlOpt = None) -> None:
    """Move the simulated clock forward to an instant, firing what falls due; return when settled."""
    _clock(url, to)


@clock_app.command("advance")
def clock_advance(by: Annotated[str, typer.Argument(help="e.g. 30d, 12h, 2w, 13mo, 1y")], url: UrlOpt = None) -> None:
    """Move the simulated clock forward by a duration."""
    import httpx

    from shared.dates import after

    base = url or _from_up("url")
    try:
        current = datetime.fromisoformat(httpx.get(f"{base}/clock", timeout=10, headers=_auth()).json()["now"])
        target = after(current, by)
    except (ValueError, KeyError, TypeError, httpx.HTTPError) as e:
        typer.echo(f"usage error: {e}", err=True)
        raise typer.Exit(2) from None
    _clock(url, target.isoformat())


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())

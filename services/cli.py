"""The `nce` command line."""
import importlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from shared.contracts.envelope import Actor
from shared.settings import SERVICES, ServiceSettings

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
def up(
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers of a real Kafka")] = None,
    database: Annotated[str | None, typer.Option(help="URL of a real PostgreSQL")] = None,
    port: Annotated[int, typer.Option(help="the one HTTP port for every service's paths")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="where data, logs and state live")] = Path(".nce"),
    clock: Annotated[str, typer.Option(help="system or simulated")] = "system",
    start: Annotated[str | None, typer.Option(help="simulated clock start, e.g. 2025-01-01T00:00:00Z")] = None,
) -> None:
    """Run the whole system on this machine: broker, database, the five services and one HTTP entry point."""
    from services.up import run_up

    raise typer.Exit(run_up(kafka=kafka, database=database, port=port, data_dir=data_dir.resolve(), clock=clock,
                            start=start))


def _bootstrap(kafka: str | None) -> str | None:
    if kafka or os.environ.get("NCE_KAFKA_BOOTSTRAP"):
        return kafka or os.environ["NCE_KAFKA_BOOTSTRAP"]
    state = Path(".nce") / STATE_FILE
    return json.loads(state.read_text())["kafka_bootstrap"] if state.exists() else None


@app.command()
def send(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="command type, e.g. subscription.purchase")],
    data: Annotated[str, typer.Option(help="the command's data as JSON")],
    actor: Annotated[str | None, typer.Option(help='JSON, default {"partner_id": null, "roles": ["GlobalAdmin"]}')] = None,
    id: Annotated[str | None, typer.Option(help="message id (UUID); re-sending one id has no second effect")] = None,
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers (default: NCE_KAFKA_BOOTSTRAP or nce up)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the outcome")] = 30.0,
) -> None:
    """Publish a command and print its outcome event: exit 0 success, 1 rejected, 2 usage error or timeout."""
    from services.send import UsageError, run_send

    try:
        payload = json.loads(data)
        who = Actor.model_validate(json.loads(actor)) if actor else None
        message_id = uuid.UUID(id) if id else uuid.uuid4()
        if not isinstance(payload, dict):
            raise ValueError("--data must be a JSON object")
    except (ValueError, ValidationError) as e:
        typer.echo(f"usage error: {e}", err=True)
        raise typer.Exit(2) from None
    bootstrap = _bootstrap(kafka)
    if bootstrap is None:
        typer.echo("usage error: no broker: pass --kafka, set NCE_KAFKA_BOOTSTRAP or start `nce up`", err=True)
        raise typer.Exit(2)
    try:
        outcome = run_send(bootstrap, type_, payload, who, message_id, timeout)
    except UsageError as e:
        typer.echo(f"usage error: {e}", err=True)
        raise typer.Exit(2) from None
    if outcome is None:
        typer.echo(f"timeout: no outcome for {message_id} within {timeout}s", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(outcome, indent=2))
    raise typer.Exit(1 if outcome.get("type", "").endswith(".command_rejected") else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())

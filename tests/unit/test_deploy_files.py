"""The deploy files are valid and refer to what exists: metrics the services export, commands `nce` has, secrets."""
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import shared.metrics  # noqa: F401  (registers the metrics)
from services.cli import app
from shared.settings import DEFAULT_PORTS, SERVICES

DEPLOY = Path(__file__).parents[2] / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
SECRETS = ("NCE_DATABASE_URL", "NCE_OPERATOR_TOKEN", "NCE_COMMAND_KEYS")


def exported() -> set[str]:
    names = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    for metric in REGISTRY.collect():
        names.update(metric.name + suffix for suffix in suffixes.get(metric.type, ("",)))
    return names


def test_every_metric_on_the_dashboard_is_exported() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "nce.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\b(nce_[a-z_]+)", target["expr"])}
    assert queried and queried <= exported(), queried - exported()


def test_prometheus_scrapes_every_service_of_the_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t.split(":")[0] for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    services = {name for name, svc in compose["services"].items() if svc.get("command", [None])[0] == "run"}
    assert services == targets == {"catalog", "pricing", "subscription", "billing", "scheduler"}


def compose_services() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    check = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                            str(COMPOSE)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_nce_container_runs_a_command_nce_has() -> None:
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}  # type: ignore[union-attr]
    used = {svc["command"][0] for svc in compose_services().values() if svc.get("image") == "nce:latest"}
    assert used <= commands and {"run", "topics", "gateway"} <= used


def test_each_service_runs_on_its_default_port_after_the_topics_exist_with_required_secrets() -> None:
    services = compose_services()
    for name in SERVICES:
        svc = services[name]
        assert svc["command"] == ["run", name] and svc["environment"]["NCE_HTTP_PORT"] == str(DEFAULT_PORTS[name])
        assert svc["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
        for secret in SECRETS:
            assert re.search(r"\$\{NCE_\w+:\?", svc["environment"][secret]), (name, secret)  # no default


def test_the_gateway_serving_the_dashboard_checks_tokens_from_the_environment() -> None:
    gateway = compose_services()["gateway"]
    assert gateway["command"][0] == "gateway" and "8080:8080" in gateway["ports"]
    assert gateway["environment"]["NCE_OPERATOR_TOKEN"].startswith("${NCE_OPERATOR_TOKEN:?")

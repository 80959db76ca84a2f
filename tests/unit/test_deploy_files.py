"""The deploy files refer to what exists: every metric the Grafana dashboard queries is one the services export."""
import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import shared.metrics  # noqa: F401  (registers the metrics)

DEPLOY = Path(__file__).parents[2] / "deploy"


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

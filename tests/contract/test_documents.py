"""The published documents: each service's AsyncAPI names every message it reads and writes, its OpenAPI every
contract path, both are served without a token, and docs/ holds what `nce docs` writes today."""
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli import service_def
from services.docs import documents, render
from shared.clock import SystemClock
from shared.contracts import REGISTRY
from shared.contracts.asyncapi import document
from shared.runtime import Runtime, build_app
from shared.settings import SERVICES, ServiceSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def generated() -> dict[str, dict[str, Any]]:
    return documents()


def _messages(doc: dict[str, Any], action: str) -> set[tuple[str, int, str]]:
    """(type, version, topic) of every message the document's operations of one action carry."""
    found = set()
    for op in doc["operations"].values():
        if op["action"] != action:
            continue
        channel = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]
        for ref in channel["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            payload = doc["components"]["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]["properties"]
            found.add((payload["type"]["const"], payload["version"]["const"], channel["address"]))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_the_asyncapi_document_receives_what_the_service_consumes_and_sends_what_it_publishes(service: str) -> None:
    consumes = service_def(service).handlers.types
    doc = document(service, consumes)
    assert doc["asyncapi"] == "3.0.0"
    assert _messages(doc, "receive") == {(s.type, s.version, s.topic.name) for s in REGISTRY.values()
                                         if s.type in consumes}
    assert _messages(doc, "send") == {(s.type, s.version, s.topic.name) for s in REGISTRY.values()
                                      if s.topic.producer == service}


def test_every_registered_message_is_in_some_document() -> None:
    every = set().union(*(_messages(document(s, service_def(s).handlers.types), a)
                          for s in SERVICES for a in ("receive", "send")))
    assert {(t, v) for t, v, _ in every} == set(REGISTRY)


CONTRACT_PATHS = {
    "catalog": ["/catalog/items", "/catalog/items/{catalog_item_id}"],
    "pricing": ["/pricing/quote"],
    "subscription": ["/subscriptions", "/subscriptions/{subscription_id}"],
    "billing": ["/billing/lines", "/billing/invoices/{partner_id}/{month}",
                "/billing/invoices/{partner_id}/{month}/reconciliation.csv"],
    "scheduler": ["/clock"],
}
OPEN = {"/healthz", "/readyz", "/metrics", "/asyncapi", "/openapi.json"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_openapi_document_has_the_contract_paths_and_only_the_operational_ones_are_open(
        service: str, generated: dict[str, dict[str, Any]]) -> None:
    doc = generated[f"openapi-{service}.json"]
    assert set(CONTRACT_PATHS[service]) | OPEN <= set(doc["paths"])
    assert doc["security"] == [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            assert operation["summary"] and "200" in operation["responses"], path
            assert (operation.get("security") == []) == (path in OPEN), path


@pytest.mark.parametrize("service", ["catalog", "subscription"])
async def test_a_service_serves_both_documents_without_a_token(service: str,
                                                               generated: dict[str, dict[str, Any]]) -> None:
    app = build_app(service_def(service), Runtime(settings=ServiceSettings.model_construct(service=service),
                                                  clock=SystemClock()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://nce") as client:  # no lifespan
        asyncapi, openapi = await client.get("/asyncapi"), await client.get("/openapi.json")
    assert asyncapi.status_code == openapi.status_code == 200
    assert asyncapi.json() == generated[f"asyncapi-{service}.json"]
    assert openapi.json() == generated[f"openapi-{service}.json"]


def test_docs_holds_what_nce_docs_writes(generated: dict[str, dict[str, Any]]) -> None:
    expected = {name: render(doc) for name, doc in generated.items()}
    committed = {p.name: p.read_text() for p in DOCS.glob("*.json")}
    stale = sorted(name for name in expected.keys() | committed.keys() if expected.get(name) != committed.get(name))
    assert stale == [], "docs/ is out of date: run `nce docs` and commit it"

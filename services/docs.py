"""`nce docs`: every service's AsyncAPI and OpenAPI documents as files (committed under docs/)."""
import importlib
import json
from pathlib import Path
from typing import Any

from shared.clock import SystemClock
from shared.contracts.asyncapi import document as asyncapi_document
from shared.openapi import document as openapi_document
from shared.runtime import Runtime, build_app
from shared.settings import SERVICES, ServiceSettings


def documents() -> dict[str, dict[str, Any]]:
    """File name → document, for every service."""
    out = {}
    for name in SERVICES:
        defn = importlib.import_module(f"services.{name}.app").SERVICE
        # The routes are only listed, never served: a runtime that never connects (and reads no settings) will do.
        app = build_app(defn, Runtime(settings=ServiceSettings.model_construct(service=name), clock=SystemClock()))
        out[f"asyncapi-{name}.json"] = asyncapi_document(name, defn.handlers.types)
        out[f"openapi-{name}.json"] = openapi_document(name, app.routes)
    return out


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file, doc in documents().items():
        (out / file).write_text(render(doc))
        written.append(out / file)
    return written

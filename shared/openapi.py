"""A service's OpenAPI document: Starlette's SchemaGenerator reads the YAML after `---` in each endpoint's docstring.

Endpoints refer to the shared pieces below (`$ref: '#/components/...'`). Reads need a bearer token unless their
docstring says `security: []`.
"""
from typing import Any

from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

DOC_VERSION = "1.0.0"  # of the contract (contract.md v1)


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": (
            "A partner's token (sees only its own customers) or the operator token (setting NCE_OPERATOR_TOKEN).")},
    },
    "schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Money": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "a decimal, never a float",
                  "examples": ["12.50"]},
        "Plan": {"type": "object", "properties": {
            "term_duration": {"type": "string", "enum": ["P1M", "P1Y", "P3Y"]},
            "billing_cycle": {"type": "string", "enum": ["monthly", "annual", "triennial", "none"]}}},
    },
    "parameters": {
        "at": {"name": "at", "in": "query", "required": False, "schema": {"type": "string"},
               "description": "An ISO 8601 instant with offset, or a date (its 00:00Z); default now (the simulated "
                              "time under a simulated clock).", "example": "2025-01-15T10:00:00Z"},
        "catalog_item_id": {"name": "catalog_item_id", "in": "query", "required": True,
                            "schema": {"type": "string", "pattern": "^[A-Z0-9]{12}:[A-Z0-9]{1,4}:[A-Z0-9]{12}$"},
                            "description": "PRODUCT:SKU:AVAILABILITY", "example": "CFQ7TTC0LH18:0001:CFQ7TTC0K5T2"},
    },
    "responses": {
        "BadRequest": _error("A parameter is missing or malformed; `error` says which."),
        "NotFound": _error("Nothing is known under that name."),
        "Unauthorized": _error("No bearer token, or one that is not known."),
        "Forbidden": _error("A partner token asked for an operator-only read."),
        "NotReady": _error("The service has not reached its database yet."),
    },
}


def document(service: str, routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one service's HTTP routes."""
    generator = SchemaGenerator({
        "openapi": "3.1.0",
        "info": {"title": f"nce {service}", "version": DOC_VERSION,
                 "description": f"The HTTP reads of the {service} service (JSON). `nce up` serves every service's "
                                "paths on one port."},
        "security": [{"bearer": []}],
        "components": COMPONENTS,
    })
    return generator.get_schema(routes)

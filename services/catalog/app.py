"""Composition root of the catalog service."""
from pathlib import Path

from shared.runtime import ServiceDef

from services.catalog.api import routes
from services.catalog.handlers import handlers

SERVICE = ServiceDef("catalog", handlers, Path(__file__).parent / "migrations", routes)

"""Composition root of the pricing service."""
from pathlib import Path

from shared.runtime import ServiceDef

from services.pricing.api import routes
from services.pricing.handlers import handlers

SERVICE = ServiceDef("pricing", handlers, Path(__file__).parent / "migrations", routes)

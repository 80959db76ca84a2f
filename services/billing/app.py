"""Composition root of the billing service."""
from pathlib import Path

from shared.runtime import ServiceDef

from services.billing.api import routes
from services.billing.handlers import handlers

SERVICE = ServiceDef("billing", handlers, Path(__file__).parent / "migrations", routes)

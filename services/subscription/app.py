"""Composition root of the subscription service."""
from pathlib import Path

from shared.runtime import ServiceDef

from services.subscription.api import routes
from services.subscription.handlers import handlers

SERVICE = ServiceDef("subscription", handlers, Path(__file__).parent / "migrations", routes)

"""The subscription service's inbound messages, one module per part of the rules; importing a module registers
its handlers on the one registry in `common`."""
from services.subscription.handlers import intake, midterm, term_end, trials  # noqa: F401 (they register)
from services.subscription.handlers.common import handlers

__all__ = ["handlers"]

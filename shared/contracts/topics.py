"""The topic registry: every topic of the contract, its key and who writes it."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    producer: str

    @property
    def area(self) -> str:
        return self.name.split(".")[1]

    @property
    def carries_commands(self) -> bool:
        return self.name.endswith(".commands")

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


CATALOG_COMMANDS = Topic("nce.catalog.commands", "product id", "operators")
CATALOG_EVENTS = Topic("nce.catalog.events", "product id", "catalog")
PRICING_COMMANDS = Topic("nce.pricing.commands", "market (ISO-2)", "operators")
PRICING_EVENTS = Topic("nce.pricing.events", "market (ISO-2); `fx` for FX rates, promotion id for promotions", "pricing")
SUBSCRIPTION_COMMANDS = Topic(
    "nce.subscription.commands",
    "customer id; partner id for partner.register, subscription id for a command that names no customer (`nce send`)",
    "other systems")
SUBSCRIPTION_EVENTS = Topic("nce.subscription.events", "customer id; partner id for partner.registered; a rejection "
                             "under its command's key", "subscription")
SCHEDULER_EVENTS = Topic("nce.scheduler.events", "customer id (term events), `eos:<scope>` (EOS events), `months` "
                         "(month ends)", "scheduler")
BILLING_EVENTS = Topic("nce.billing.events", "customer id; partner id for invoices", "billing")

TOPICS = (
    CATALOG_COMMANDS,
    CATALOG_EVENTS,
    PRICING_COMMANDS,
    PRICING_EVENTS,
    SUBSCRIPTION_COMMANDS,
    SUBSCRIPTION_EVENTS,
    SCHEDULER_EVENTS,
    BILLING_EVENTS,
)
BY_NAME = {t.name: t for t in TOPICS}


def events_topic_of(commands: Topic) -> Topic:
    """The topic where a command topic's outcomes are published."""
    return BY_NAME[f"nce.{commands.area}.events"]

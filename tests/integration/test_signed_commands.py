"""Signed commands over the real broker and database: unsigned, expired, forged, tampered and mis-attributed
commands are parked in the DLQ with their reason and answered UNAUTHENTICATED, changing nothing; a signed actor
cannot act on another partner's customers, nor run the catalog."""
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.system import System
from shared.contracts.envelope import OPERATOR, Actor
from shared.messaging.signing import Signer
from tests.conftest import SIGNER
from tests.kafka import command, publish, read

pytestmark = pytest.mark.integration
COMMANDS, EVENTS = "nce.subscription.commands", "nce.subscription.events"
P1_ADMIN = Actor(partner_id="P1", roles=["AdminAgent"])
P2_ADMIN = Actor(partner_id="P2", roles=["AdminAgent"])
OFFER = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
SAMPLES = Path(__file__).parents[1] / "contract" / "samples"


def partner(pid: str) -> dict[str, str]:
    return {"partner_id": pid, "name": f"Partner {pid}", "billing_currency": "USD", "country": "US"}


async def outcomes(bootstrap: str, topic: str, until: int) -> dict[str, dict]:  # type: ignore[type-arg]
    """The outcome events on `topic`, by the command they answer."""
    return {e["causation_id"]: e for e in (json.loads(r.value) for r in await read(bootstrap, topic, until=until,
                                                                                    settle=1.0))}


@pytest.fixture
def system(stack):  # type: ignore[no-untyped-def]
    running = System(stack.env(), stack.log_dir, services=("catalog", "subscription"))
    running.start()
    running.wait_ready()
    yield running
    running.stop()


async def test_commands_that_are_not_signed_for_are_parked_and_change_nothing(stack, system) -> None:
    now = datetime.now(UTC)
    reused = uuid.uuid4()  # a forger's pick of id must not burn it for the genuine command sent later
    value = command("partner.register", partner("P1"), actor=OPERATOR)
    forged_value = command("partner.register", partner("P1"), id=reused, actor=OPERATOR)
    as_p2 = command("partner.register", partner("P2"), actor=P2_ADMIN)
    forger = Signer(SIGNER.issuer, "not-the-key-" + "x" * 30)
    bad = {
        "unsigned": (value, []),
        "expired": (value, [SIGNER.header(value, OPERATOR, now - timedelta(hours=1))]),
        "forged": (forged_value, [forger.header(forged_value, OPERATOR, now)]),
        "tampered": (command("partner.register", {**partner("P1"), "name": "Evil"}, actor=OPERATOR),
                     [SIGNER.header(value, OPERATOR, now)]),
        "mis-attributed": (as_p2, [SIGNER.header(as_p2, P1_ADMIN, now)]),  # a P1 token on a P2 command
    }
    await publish(stack.bootstrap, COMMANDS, [(b"P1", v, h) for v, h in bad.values()])
    parked = await read(stack.bootstrap, f"{COMMANDS}.dlq", until=len(bad), settle=1.0)
    reasons = sorted(dict(r.headers)["nce-dlq-reason"].decode() for r in parked)
    assert len(reasons) == len(bad) and all(r.startswith("unauthenticated: ") for r in reasons)
    for why in ("unsigned", "expired", "forged", "signs another message", "actor differs"):
        assert any(why in r for r in reasons), (why, reasons)
    refused = await outcomes(stack.bootstrap, EVENTS, until=len(bad))
    assert {e["data"]["code"] for e in refused.values()} == {"UNAUTHENTICATED"}

    genuine = command("partner.register", partner("P1"), id=reused, actor=OPERATOR)
    await publish(stack.bootstrap, COMMANDS, [(b"P1", genuine)])
    applied = await outcomes(stack.bootstrap, EVENTS, until=len(bad) + 1)
    assert applied[str(reused)]["type"] in ("partner.registered", "subscription.command_rejected")
    assert any(e["type"] == "partner.registered" for e in applied.values())
    conn = await asyncpg.connect(stack.database_url)
    assert await conn.fetch("SELECT partner_id, name FROM subscription.partners") == [("P1", "Partner P1")]
    assert await conn.fetchval("SELECT count(*) FROM subscription.rejections WHERE code = 'UNAUTHENTICATED'") == 5
    await conn.close()


async def test_a_signed_partner_acts_only_for_its_own_customers_and_never_runs_the_catalog(stack, system) -> None:
    setup = [command("partner.register", partner(p)) for p in ("P1", "P2")]
    setup.append(command("customer.register", {"partner_id": "P1", "customer_id": "C1", "name": "Fabrikam",
                                               "country": "US"}))
    await publish(stack.bootstrap, COMMANDS, [(b"C1", c) for c in setup])
    steal = command("subscription.purchase", {"customer_id": "C1", "catalog_item_id": OFFER, "term_duration": "P1Y",
                                              "billing_cycle": "monthly", "quantity": 5}, actor=P2_ADMIN)
    await publish(stack.bootstrap, COMMANDS, [(b"C1", steal)])
    events = await outcomes(stack.bootstrap, EVENTS, until=4)
    theft = events[json.loads(steal)["id"]]
    assert theft["type"] == "subscription.command_rejected" and theft["data"]["code"] == "UNKNOWN_CUSTOMER"

    # Another partner's customer answers as one that does not exist, and its registration is not P2's to change.
    probe = command("subscription.purchase", {**json.loads(steal)["data"], "customer_id": "C-NONE"}, actor=P2_ADMIN)
    seize = command("customer.register", {"partner_id": "P2", "customer_id": "C1", "name": "Mine", "country": "DE"},
                    actor=P2_ADMIN)
    await publish(stack.bootstrap, COMMANDS, [(b"C-NONE", probe), (b"C1", seize)])
    events = await outcomes(stack.bootstrap, EVENTS, until=6)
    assert events[json.loads(probe)["id"]]["data"] == {**theft["data"]}
    assert events[json.loads(seize)["id"]]["data"]["code"] == "CUSTOMER_EXISTS"
    own_partner = command("partner.register", {**partner("P2"), "billing_currency": "EUR"}, actor=P2_ADMIN)
    await publish(stack.bootstrap, COMMANDS, [(b"P2", own_partner)])
    events = await outcomes(stack.bootstrap, EVENTS, until=7)
    assert events[json.loads(own_partner)["id"]]["data"]["code"] == "FORBIDDEN"

    offer = json.loads(SAMPLES.joinpath("catalog.publish_offer.v1.json").read_text())["data"]  # a valid offer
    publish_offer = command("catalog.publish_offer", offer, actor=P1_ADMIN)
    await publish(stack.bootstrap, "nce.catalog.commands", [(offer["catalog_item_id"].split(":")[0].encode(), publish_offer)])
    [answer] = (await outcomes(stack.bootstrap, "nce.catalog.events", until=1)).values()
    assert answer["type"] == "catalog.command_rejected" and answer["data"]["code"] == "FORBIDDEN"
    assert "only the platform operator" in answer["data"]["message"]
    conn = await asyncpg.connect(stack.database_url)
    assert await conn.fetchval("SELECT count(*) FROM subscription.subscriptions") == 0
    assert await conn.fetchval("SELECT count(*) FROM catalog.offers") == 0
    assert await conn.fetchrow("SELECT partner_id, name, country FROM subscription.customers") == ("P1", "Fabrikam",
                                                                                                  "US")
    assert await conn.fetchval("SELECT billing_currency FROM subscription.partners WHERE partner_id = 'P2'") == "USD"
    await conn.close()

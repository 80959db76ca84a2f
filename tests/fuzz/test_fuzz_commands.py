"""Every command type through the real consumer kernel with its service's real handlers and a migrated database.

Thousands of generated malformed or extreme commands (and raw junk) per service; for each one: exactly one recorded
outcome with a reason — applied (its success event caused by it), rejected (a `rejections` row and one
`command_rejected` event) or dead-lettered (a `dead_letters` row and one `.dlq` record; a readable command also
gets its rejection) — no exception out of the kernel, the partition moving on, and the service's own tables
untouched by anything not applied. A handler that crashed (parked as "handler failed") fails the test.
"""
import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.clock import SimulatedClock
from shared.contracts import REGISTRY
from shared.messaging.consumer import Consumer
from shared.contracts.topics import BY_NAME
from shared.messaging.decode import Record
from shared.messaging.signing import Verifier
from tests.kafka import signature
from tests.conftest import COMMAND_KEY, SIGNER, migrated_pool
from tests.fuzz import TALLY
from tests.fuzz.hostile import Headers, command_input, generate, short

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).parents[1] / "contract" / "samples"
KERNEL_TABLES = {"inbox", "outbox", "dead_letters", "rejections", "schema_migrations"}
COMMAND_TYPES = sorted(t for (t, _), s in REGISTRY.items() if s.topic.carries_commands)
# Per service: its command topic, how many inputs per command type, and the golden samples that give it a
# partner, customer, offer, price and subscription to aim at (so some extreme inputs can be valid).
SERVICES = {
    "catalog": ("nce.catalog.commands", 1000, []),
    "pricing": ("nce.pricing.commands", 1500, []),
    "subscription": ("nce.subscription.commands", 450, [
        "partner.register", "customer.register", "catalog.offer_published", "pricing.prices_published",
        "subscription.purchase"]),
}


def sample(type_: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{type_}.v1.json").read_text())


async def checksum(pool: asyncpg.Pool, tables: list[str]) -> list[str]:
    """Each state table's row count and the sum of its rows' hashes (order-free, so no sort)."""
    per_table = ", ".join(f"(SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM {t} t)" for t in tables)
    return list(await pool.fetchval(f"SELECT ARRAY[{per_table}]"))


class Kernel:
    """One service's consumer on one partition, and what each handled record left behind."""

    def __init__(self, pool: asyncpg.Pool, service: str, topic: str, tables: list[str]) -> None:
        from importlib import import_module

        handlers = import_module(f"services.{service}.app").SERVICE.handlers
        self.consumer = Consumer(handlers, pool, SimulatedClock(datetime(2025, 1, 15, 10, tzinfo=UTC)),
                                 max_bytes=1_000_000, max_backoff_s=0.01,
                                 verifier=Verifier({SIGNER.issuer: COMMAND_KEY}, lambda: datetime.now(UTC)))
        self.pool, self.topic, self.tables, self.offset = pool, topic, tables, 0
        self.marks = {"outbox": 0, "rejections": 0, "dead_letters": 0}

    async def new_rows(self, table: str, columns: str) -> list[asyncpg.Record]:
        rows = await self.pool.fetch(f"SELECT id, {columns} FROM {table} WHERE id > $1 ORDER BY id",
                                     self.marks[table])
        self.marks[table] = max([self.marks[table], *(r["id"] for r in rows)])
        return rows

    async def handle(self, value: bytes, topic: str | None = None, headers: Headers = ()) -> dict[str, Any]:
        self.offset += 1
        topic = topic or self.topic
        if BY_NAME[topic].carries_commands:  # signed as the services demand, so the fuzz reaches past the check
            headers = (*headers, *signature(value))
        record = Record(topic, 0, self.offset, b"K", value, headers, int(time.time() * 1000))
        await asyncio.wait_for(self.consumer.handle(record), timeout=60)  # returns: the partition moves on
        out = await self.new_rows("outbox", "topic, payload")
        events = [json.loads(r["payload"]) for r in out if not r["topic"].endswith(".dlq")]
        return {
            "dlq": [r for r in out if r["topic"].endswith(".dlq")],
            "rejected": [e for e in events if e["type"].endswith(".command_rejected")],
            "events": [e for e in events if not e["type"].endswith(".command_rejected")],
            "rejections": await self.new_rows("rejections", "code, message"),
            "dead_letters": await self.new_rows("dead_letters", 'reason, "offset"'),
        }


def outcome(seen: dict[str, Any], offset: int) -> str:
    """The one outcome a handled input had, or what is wrong with it."""
    dlq, rejected, events = seen["dlq"], seen["rejected"], seen["events"]
    rejections, dead = seen["rejections"], seen["dead_letters"]
    if dead:
        assert len(dead) == 1 and len(dlq) == 1 and dead[0]["offset"] == offset and dead[0]["reason"], seen
        assert not events, f"dead-lettered yet events were written: {events}"
        if dead[0]["reason"].startswith("handler failed"):
            return "crash"
        assert len(rejected) == len(rejections) <= 1, seen  # a readable command also gets its rejection
        return "dead_lettered"
    assert not dlq, seen
    if rejections:
        assert len(rejections) == 1 and len(rejected) == 1 and not events, seen
        assert rejections[0]["code"] and rejections[0]["message"], seen
        assert rejected[0]["data"]["code"] == rejections[0]["code"]
        return "rejected"
    assert not rejected, seen
    return "applied" if events else "nothing"


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_hostile_command_is_applied_rejected_or_dead_lettered_with_a_reason(stack, service: str) -> None:
    topic, per_type, seed = SERVICES[service]
    pool = await migrated_pool(stack, service)
    try:
        tables = sorted(r["table_name"] for r in await pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", service)
            if r["table_name"] not in KERNEL_TABLES)
        kernel = Kernel(pool, service, topic, tables)
        for type_ in seed:
            s = sample(type_)
            seen = await kernel.handle(json.dumps(s).encode(), REGISTRY[(type_, 1)].topic.name)
            expected = "applied" if REGISTRY[(type_, 1)].topic.carries_commands else "nothing"  # events: copied
            assert outcome(seen, kernel.offset) == expected, (type_, seen)
        types = [t for t in COMMAND_TYPES if REGISTRY[(t, 1)].topic.name == topic]
        others = [t for t in COMMAND_TYPES if t not in types] + ["pricing.prices_published", "kernel.marker"]
        inputs = [(t, *i) for t in types for i in generate(command_input(sample(t), others), per_type)]
        buckets: Counter[str] = Counter()
        problems: list[str] = []
        seen_ids: set[uuid.UUID] = set()
        state = await checksum(pool, tables)
        for type_, where, value, headers in inputs:
            value = value.replace(b'"__ID__"', json.dumps(str(uuid.uuid4())).encode())
            try:
                seen = await kernel.handle(value, headers=headers)
                got = outcome(seen, kernel.offset)
            except (Exception, AssertionError) as e:  # noqa: BLE001 - every failure is reported with its input
                got = f"error: {type(e).__name__}: {short(e, 500)}"
            if got == "nothing":
                got = expected_silence(value, seen_ids) or got
            seen_ids.add(_id_and_type(value)[0])  # type: ignore[arg-type]
            buckets[got.split(":")[0]] += 1
            after = await checksum(pool, tables)
            if got != "applied" and after != state:
                got = f"partial write ({got})"
            if got not in ("applied", "rejected", "dead_lettered", "duplicate", "marker"):
                problems.append(f"{type_} [{where}] → {got}: {short(value)} headers {short(headers, 100)}")
            state = after
        TALLY[f"commands/{service}"] = buckets
        print(f"\n{service}: {len(inputs)} inputs over {len(types)} command types: {dict(buckets)}")
        assert len(inputs) >= per_type * len(types) * 0.9
        assert not problems, f"{len(problems)} inputs without a proper outcome:\n" + "\n".join(problems[:30])
        # the partition was never blocked: a valid command after all of them is applied at once
        last = sample(types[0])
        seen = await kernel.handle(json.dumps({**last, "id": str(uuid.uuid4())}).encode())
        assert outcome(seen, kernel.offset) in ("applied", "rejected")
    finally:
        await pool.close()


def _id_and_type(value: bytes) -> tuple[uuid.UUID | None, Any]:
    try:
        envelope = json.loads(value)
        return uuid.UUID(str(envelope.get("id"))), envelope.get("type")
    except (ValueError, AttributeError, TypeError):
        return None, None


def expected_silence(value: bytes, seen_ids: set[uuid.UUID]) -> str | None:
    """Why an input may leave no outcome: its id was handled before (a redelivery), or it is a kernel marker (the
    simulated clock's catch-up probe, skipped on every topic by design)."""
    id_, type_ = _id_and_type(value)
    if type_ == "kernel.marker":
        return "marker"
    return "duplicate" if id_ in seen_ids else None


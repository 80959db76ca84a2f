"""The exactly-once kernel against a real PostgreSQL: inbox, savepoint on rejection, outbox, dead letters."""
import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.pricing.app import SERVICE as PRICING
from services.subscription.app import SERVICE as SUBSCRIPTION
from shared.clock import SimulatedClock
from shared.db.pool import create_pool
from shared.contracts.subscription import RegisterPartner
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from shared.messaging.handlers import Context, Handlers
from tests.kafka import command
from tests.conftest import migrated_pool
from tests.contract.write_samples import path_of

pytestmark = pytest.mark.integration
COMMANDS = "nce.subscription.commands"
PARTNER = {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD", "country": "US"}


@pytest.fixture
async def pool(stack) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    pool = await migrated_pool(stack, "subscription")
    yield pool
    await pool.close()


def consumer(pool: asyncpg.Pool, handlers: Handlers = SUBSCRIPTION.handlers) -> Consumer:
    return Consumer(handlers, pool, SimulatedClock(datetime(2025, 1, 15, 10, tzinfo=UTC)), max_bytes=10_000,
                    max_backoff_s=0.01)


offsets = iter(range(10**6))


def record(value: bytes, key: bytes | None = b"P1", topic: str = COMMANDS) -> Record:
    return Record(topic, 0, next(offsets), key, value)


async def outbox(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT topic, key, headers, payload FROM outbox ORDER BY id")
    return [{"topic": r["topic"], "key": r["key"], "headers": dict(json.loads(r["headers"])),
             "body": r["payload"]} for r in rows]


async def test_a_command_delivered_twice_changes_state_once_and_has_one_outcome(pool: asyncpg.Pool) -> None:
    msg = command("partner.register", PARTNER)
    await consumer(pool).handle_batch([record(msg), record(msg)])
    assert await pool.fetchval("SELECT count(*) FROM partners") == 1
    out = await outbox(pool)
    assert [json.loads(o["body"])["type"] for o in out] == ["partner.registered"]
    assert out[0]["headers"]["type"] == "partner.registered"
    assert json.loads(out[0]["body"])["causation_id"] == json.loads(msg)["id"]


async def test_a_rejected_command_leaves_no_state_and_one_rejection_under_the_command_key(pool: asyncpg.Pool) -> None:
    msg = command("customer.register", {"partner_id": "NOPE", "customer_id": "C1", "name": "F", "country": "US"})
    await consumer(pool).handle(record(msg, key=b"C1"))
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0
    [out] = await outbox(pool)
    body = json.loads(out["body"])
    assert (out["topic"], out["key"], body["type"]) == ("nce.subscription.events", b"C1", "subscription.command_rejected")
    assert body["data"]["code"] == "UNKNOWN_PARTNER" and body["causation_id"] == json.loads(msg)["id"]


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"{not json", "not JSON"),
        (json.dumps({"id": "x", "type": "partner.register"}).encode(), "invalid envelope"),
        (command("subscription.teleport", {}), "unknown message type"),
        (command("partner.register", {**PARTNER, "country": 42}), "invalid data"),
        (command("partner.register", {**PARTNER, "name": "x" * 20_000}), "oversized"),
    ],
)
async def test_poison_is_parked_in_the_dlq_with_its_reason_and_origin(pool: asyncpg.Pool, value: bytes,
                                                                       reason: str) -> None:
    poison = record(value)
    await consumer(pool).handle(poison)
    out = await outbox(pool)
    dlq = [o for o in out if o["topic"] == f"{COMMANDS}.dlq"]
    assert len(dlq) == 1 and dlq[0]["body"] == value[:10_000]
    headers = dlq[0]["headers"]
    assert headers["nce-dlq-reason"].startswith(reason)
    assert (headers["nce-dlq-topic"], headers["nce-dlq-offset"]) == (COMMANDS, str(poison.offset))
    parked = await pool.fetchrow('SELECT reason, "offset" FROM dead_letters')
    assert parked["reason"].startswith(reason) and parked["offset"] == poison.offset


async def test_an_event_no_handler_wants_is_skipped_by_its_type_header_and_a_wanted_one_is_not(
        pool: asyncpg.Pool) -> None:
    """The subscription service reads nce.scheduler.events for term ends, not month ends: a month end is skipped
    unread (even a body that is not JSON parks nothing), while a wanted type with the same body is parked."""
    def event(type_: str) -> Record:
        return Record("nce.scheduler.events", 0, next(offsets), b"P1", b"{not json", (("type", type_.encode()),))

    await consumer(pool).handle(event("scheduler.month_ended"))
    assert await outbox(pool) == [] and await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    await consumer(pool).handle(event("scheduler.term_ended"))
    assert [o["topic"] for o in await outbox(pool)] == ["nce.scheduler.events.dlq"]


async def test_an_event_its_handler_turns_down_takes_no_transaction_and_a_wanted_one_does(stack) -> None:  # type: ignore[no-untyped-def]
    """Pricing counts a promotion's redemptions from subscription.created: a purchase without a promotion is skipped
    before any transaction (no inbox claim), one with a promotion is applied once, even delivered twice."""
    sample = json.loads(path_of("subscription.created", 1).read_text())
    pool = await migrated_pool(stack, "pricing")
    try:
        def created(promotion_id: str | None, n: int) -> Record:
            body = {**sample, "id": str(uuid.UUID(int=n)),
                    "data": {**sample["data"], "promotion_id": promotion_id, "subscription_id": f"S{n}"}}
            return Record("nce.subscription.events", 0, next(offsets), b"C1", json.dumps(body).encode(),
                          (("type", b"subscription.created"),))

        with_promotion = created(sample["data"]["promotion_id"], 2)
        await consumer(pool, PRICING.handlers).handle_batch([created(None, 1), with_promotion, with_promotion])
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 1
        assert [r["subscription_id"] for r in await pool.fetch("SELECT subscription_id FROM redemptions")] == ["S2"]
    finally:
        await pool.close()


async def test_a_readable_but_invalid_command_also_gets_a_rejection_outcome(pool: asyncpg.Pool) -> None:
    msg = command("partner.register", {**PARTNER, "billing_currency": "dollars"})
    await consumer(pool).handle(record(msg))
    rejected = [json.loads(o["body"]) for o in await outbox(pool) if o["topic"] == "nce.subscription.events"]
    assert len(rejected) == 1 and rejected[0]["data"]["code"] == "INVALID_COMMAND"
    assert "billing_currency" in rejected[0]["data"]["message"]


async def test_parking_commands_does_not_exhaust_a_pool_the_clock_reads_from(stack) -> None:  # type: ignore[no-untyped-def]
    class PoolClock:  # as the simulated clock: a connection of its own from the same pool for every read
        def __init__(self, pool: asyncpg.Pool) -> None:
            self.pool = pool

        async def now(self) -> datetime:
            return await self.pool.fetchval("SELECT '2025-01-15T10:00:00Z'::timestamptz")

    await (await migrated_pool(stack, "subscription")).close()
    pool = await create_pool(stack.database_url, "subscription", max_size=1)
    try:
        parker = Consumer(SUBSCRIPTION.handlers, pool, PoolClock(pool), max_bytes=10_000, max_backoff_s=0.01)
        invalid = command("partner.register", {**PARTNER, "billing_currency": "dollars"})
        await asyncio.wait_for(parker.handle(record(invalid)), 10)
        assert await pool.fetchval("SELECT count(*) FROM rejections") == 1
    finally:
        await pool.close()


async def test_poison_redelivered_is_parked_once(pool: asyncpg.Pool) -> None:
    poison = record(b"\xff\xfe garbage")
    await consumer(pool).handle(poison)
    await consumer(pool).handle(poison)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 1


async def test_a_transient_failure_is_retried_until_it_commits_once(pool: asyncpg.Pool) -> None:
    handlers = Handlers("subscription")
    calls = []

    @handlers.on("partner.register")
    async def flaky(ctx: Context, cmd: RegisterPartner) -> None:
        calls.append(1)
        await ctx.conn.execute("INSERT INTO partners VALUES ($1, $2, $3, $4)", cmd.partner_id, cmd.name,
                               cmd.billing_currency, cmd.country)
        if len(calls) < 3:
            raise ConnectionResetError("database went away")

    await consumer(pool, handlers).handle(record(command("partner.register", PARTNER)))
    assert len(calls) == 3
    assert await pool.fetchval("SELECT count(*) FROM partners") == 1


async def test_a_handler_that_always_fails_is_parked_and_the_partition_moves_on(pool: asyncpg.Pool) -> None:
    handlers = Handlers("subscription")

    @handlers.on("partner.register")
    async def broken(ctx: Context, cmd: RegisterPartner) -> None:
        raise KeyError("bug")

    c = consumer(pool, handlers)
    await c.handle(record(command("partner.register", PARTNER)))
    [parked] = await pool.fetch("SELECT reason FROM dead_letters")
    assert parked["reason"].startswith("handler failed: KeyError")
    rejected = [json.loads(o["body"]) for o in await outbox(pool) if o["topic"] == "nce.subscription.events"]
    assert [r["data"]["code"] for r in rejected] == ["INTERNAL_ERROR"]
    assert await pool.fetchval("SELECT count(*) FROM partners") == 0



async def test_text_postgresql_cannot_hold_is_stored_replaced_and_the_partition_moves_on(pool: asyncpg.Pool) -> None:
    handlers = Handlers("subscription")

    @handlers.on("partner.register")
    async def broken(ctx: Context, cmd: RegisterPartner) -> None:
        raise ValueError("quoting a hostile input: \x00")  # NUL: PostgreSQL text cannot hold it

    await asyncio.wait_for(consumer(pool, handlers).handle(record(command("partner.register", PARTNER))), 30)
    [parked] = await pool.fetch("SELECT reason FROM dead_letters")
    assert parked["reason"] == "handler failed: ValueError: quoting a hostile input: \ufffd"
    [rejection] = await pool.fetch("SELECT code, message FROM rejections")
    assert tuple(rejection) == ("INTERNAL_ERROR", parked["reason"])


async def test_a_record_that_defeats_parking_is_parked_bare_and_the_partition_moves_on(pool: asyncpg.Pool) -> None:
    c = consumer(pool)

    def unstorable(*args: Any) -> str:
        return "SELECT 'something in this record PostgreSQL refuses'::int; "  # a DataError, as the database raises

    c._rejection_sql = unstorable  # type: ignore[method-assign]
    bad = command("partner.register", {**PARTNER, "country": 42})  # invalid: parked, and a command gets a rejection
    await asyncio.wait_for(c.handle(record(bad)), timeout=30)
    [parked] = await pool.fetch("SELECT reason, message_id FROM dead_letters")
    assert parked["reason"].startswith("invalid data for partner.register v1")
    assert "(parked bare: InvalidTextRepresentationError: invalid input syntax for type integer" in parked["reason"]
    [dlq] = [o for o in await outbox(pool) if o["topic"] == f"{COMMANDS}.dlq"]
    assert dlq["body"] == bad and set(dlq["headers"]) == {"nce-dlq-reason", "nce-dlq-topic", "nce-dlq-partition",
                                                          "nce-dlq-offset", "nce-dlq-consumer"}
    await c.handle(record(command("partner.register", PARTNER)))  # the partition moves on
    assert await pool.fetchval("SELECT count(*) FROM partners") == 1


async def test_a_clock_unreadable_for_a_while_is_waited_on_and_the_message_applied_once(pool: asyncpg.Pool) -> None:
    """The simulated clock is read from the database: while it is away the message waits, it is not failed."""
    class ClockAway:
        reads = 0

        async def now(self) -> datetime:
            self.reads += 1
            if self.reads < 3:
                raise FileNotFoundError("no PostgreSQL socket: the server is restarting")
            return datetime(2025, 1, 15, 10, tzinfo=UTC)

    clock = ClockAway()
    c = Consumer(SUBSCRIPTION.handlers, pool, clock, max_bytes=10_000, max_backoff_s=0.01)
    await c.handle(record(command("partner.register", PARTNER)))
    assert clock.reads == 3
    assert await pool.fetchval("SELECT count(*) FROM partners") == 1


async def test_a_connection_dropped_mid_operation_is_a_transient_failure_not_a_strike(pool: asyncpg.Pool) -> None:
    """What asyncpg raises on a connection PostgreSQL dropped mid-query must not count toward parking the message."""
    handlers = Handlers("subscription")
    calls = []

    @handlers.on("partner.register")
    async def on_a_dying_connection(ctx: Context, cmd: RegisterPartner) -> None:
        calls.append(1)
        if len(calls) <= 3:
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation (2) is in progress")
        await ctx.conn.execute("INSERT INTO partners VALUES ($1, $2, $3, $4)", cmd.partner_id, cmd.name,
                               cmd.billing_currency, cmd.country)

    await consumer(pool, handlers).handle(record(command("partner.register", PARTNER)))
    assert len(calls) == 4
    assert await pool.fetchval("SELECT count(*) FROM partners") == 1
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_events_written_with_the_commit_arrive_byte_for_byte_and_in_emit_order(pool: asyncpg.Pool) -> None:
    """The outbox rows go in as literals with the COMMIT: quotes, backslashes, unicode and NUL-free odd bytes."""
    handlers = Handlers("subscription")
    odd = "O'Brien \\x00 \\\\ \"quoted\" ünïcødé ☃ $$ $q$ ; COMMIT; --"

    @handlers.on("partner.register")
    async def emit_two(ctx: Context, cmd: RegisterPartner) -> None:
        from shared.contracts.subscription import PartnerRegistered
        await ctx.emit("partner.registered", PartnerRegistered(**{**cmd.model_dump(), "name": odd}), key="k'1\\")
        await ctx.emit("partner.registered", PartnerRegistered(**{**cmd.model_dump(), "name": "second"}), key="k2")

    await consumer(pool, handlers).handle(record(command("partner.register", PARTNER)))
    out = await outbox(pool)
    assert [o["key"] for o in out] == [b"k'1\\", b"k2"]
    assert [json.loads(o["body"])["data"]["name"] for o in out] == [odd, "second"]
    assert out[0]["headers"]["type"] == "partner.registered"


async def test_a_failed_handler_leaves_no_transaction_open_on_a_pooled_connection(pool: asyncpg.Pool) -> None:
    handlers = Handlers("subscription")

    @handlers.on("partner.register")
    async def broken(ctx: Context, cmd: RegisterPartner) -> None:
        await ctx.conn.execute("INSERT INTO partners VALUES ($1, $2, $3, $4)", cmd.partner_id, cmd.name,
                               cmd.billing_currency, cmd.country)
        raise KeyError("bug")

    await consumer(pool, handlers).handle(record(command("partner.register", PARTNER)))
    for _ in range(pool.get_size()):
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
    assert await pool.fetchval("SELECT count(*) FROM partners") == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 1  # the park's own transaction claimed it


async def test_a_worker_whose_connection_the_server_dropped_between_messages_goes_on_with_a_new_one(
        pool: asyncpg.Pool) -> None:
    """A worker keeps its connection across messages, a transaction open for the next: when the server drops it
    (PostgreSQL restarted, say), the message is retried on a new connection and the batch is handled in full."""
    handlers = Handlers("subscription")
    pids: list[int] = []

    @handlers.on("partner.register")
    async def register(ctx: Context, cmd: RegisterPartner) -> None:
        pids.append(await ctx.conn.fetchval("SELECT pg_backend_pid()"))
        if len(pids) == 2:  # the second message, on the connection the first one's COMMIT began a transaction on
            assert pids[0] == pids[1]
            await pool.execute("SELECT pg_terminate_backend($1)", pids[1])
        await ctx.conn.execute("INSERT INTO partners VALUES ($1, $2, $3, $4)", cmd.partner_id, cmd.name,
                               cmd.billing_currency, cmd.country)

    batch = [record(command("partner.register", {**PARTNER, "partner_id": p})) for p in ("P1", "P2", "P3")]
    await asyncio.wait_for(consumer(pool, handlers).handle_batch(batch), 30)
    assert sorted(r["partner_id"] for r in await pool.fetch("SELECT partner_id FROM partners")) == ["P1", "P2", "P3"]
    assert len(pids) == 4 and pids[2] != pids[1]
    held = [await pool.acquire(timeout=5) for _ in range(pool.get_max_size())]  # none was kept by the worker
    for conn in held:
        await pool.release(conn)

"""The kernel against records and outages that must not cost a message or stop a partition: a command with an
event's id, records that defeat reading or parking, a broker that hands out offsets again, a database out of
service for a while; on a real PostgreSQL."""
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.subscription.app import SERVICE as SUBSCRIPTION
from shared.clock import SimulatedClock
from shared.contracts.subscription import RegisterPartner
from shared.messaging.consumer import Consumer
from shared.messaging.decode import Record
from shared.messaging.handlers import Context, Handlers
from tests.integration.test_kernel import COMMANDS, PARTNER, consumer, offsets, outbox, pool, record
from tests.kafka import command

pytestmark = pytest.mark.integration
__all__ = ["pool"]  # the fixture, shared with test_kernel


async def test_a_command_cannot_take_the_inbox_key_of_an_event_still_to_come(pool: asyncpg.Pool) -> None:
    """A command's id is its publisher's choice; one sent with the (predictable) id of a scheduler's term end to
    come is handled as itself, and the term end, when it comes, is applied, not taken for a duplicate."""
    instant = datetime(2026, 2, 1, tzinfo=UTC)
    ahead = uuid.uuid5(uuid.NAMESPACE_URL, "the id a scheduler event will carry")
    await consumer(pool).handle(record(command("partner.register", PARTNER, id=ahead)))
    term_end = command("scheduler.terms_ended", {"customer_id": "C1", "instant": instant.isoformat(),
                                                "terms": [{"subscription_id": "S1", "term_end": "2026-01-31"}]},
                       id=ahead)
    handlers = Handlers("subscription")

    @handlers.on("scheduler.terms_ended")
    async def ended(ctx: Context, event: Any) -> None:  # a write of its own, to see it committed
        await ctx.conn.execute("INSERT INTO partners VALUES ('P-TERM-END', 'T', 'USD', 'US')")

    await consumer(pool, handlers).handle(record(term_end, b"C1", "nce.scheduler.events"))
    assert await pool.fetchval("SELECT count(*) FROM partners") == 2  # the command's and the term end's


@pytest.mark.parametrize("value, headers, reason", [
    (b"[" * 50_000, (), "unreadable: RecursionError"),  # nested past the JSON parser's depth
    (command("partner.register", PARTNER), (("type", b""), ("authorization", b"")), "unauthenticated"),
])
async def test_whatever_defeats_reading_a_record_parks_it_and_the_partition_moves_on(
        pool: asyncpg.Pool, value: bytes, headers: tuple[tuple[str, bytes], ...], reason: str) -> None:
    from shared.messaging.signing import Verifier
    from tests.conftest import COMMAND_KEY, SIGNER
    signed = Consumer(SUBSCRIPTION.handlers, pool, SimulatedClock(datetime(2025, 1, 15, 10, tzinfo=UTC)),
                      max_bytes=100_000, max_backoff_s=0.01,
                      verifier=Verifier({SIGNER.issuer: COMMAND_KEY}, lambda: datetime.now(UTC)))
    await signed.handle_batch([Record(COMMANDS, 0, next(offsets), b"P1", value, headers)])
    [parked] = await pool.fetch("SELECT reason FROM dead_letters")
    assert parked["reason"].startswith(reason), parked["reason"]


def test_a_header_without_a_value_reads_as_empty() -> None:
    raw = type("R", (), {"topic": COMMANDS, "partition": 0, "offset": 1, "key": None, "value": b"{}",
                         "headers": [("authorization", None), ("type", None)], "timestamp": 1})()
    assert Record.of(raw).headers == (("authorization", b""), ("type", b""))


async def test_a_dlq_copy_keeps_within_what_a_broker_takes_however_large_the_records_headers(
        pool: asyncpg.Pool) -> None:
    poison = Record(COMMANDS, 0, next(offsets), b"P1", b"{not json", (("junk", b"j" * 100_000),))
    await consumer(pool).handle(poison)
    [copy] = [o for o in await outbox(pool) if o["topic"] == f"{COMMANDS}.dlq"]
    assert "junk" not in copy["headers"] and copy["headers"]["nce-dlq-headers-dropped"] == "100004"


async def test_two_unreadable_records_at_one_offset_of_a_broker_that_started_over_are_each_parked(
        pool: asyncpg.Pool) -> None:
    """Tansu keeps no data: after a restart it hands out offset 5 again, to another record."""
    for value, stamp in ((b"{first", 1_000), (b"{second", 2_000)):
        await consumer(pool).handle(Record(COMMANDS, 0, 5, b"P1", value, (), stamp))
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 2


@pytest.mark.parametrize("error", [asyncpg.exceptions.ReadOnlySQLTransactionError("read-only (a standby)"),
                                   asyncpg.exceptions.DiskFullError("disk full"),
                                   asyncpg.exceptions.QueryCanceledError("cancelled by an operator")])
async def test_a_database_out_of_service_for_a_while_is_waited_on_not_a_reason_to_park(
        pool: asyncpg.Pool, error: Exception) -> None:
    handlers, calls = Handlers("subscription"), []

    @handlers.on("partner.register")
    async def register(ctx: Context, cmd: RegisterPartner) -> None:
        calls.append(1)
        if len(calls) <= 4:  # more than the strikes a broken handler gets before it is parked
            raise error
        await ctx.conn.execute("INSERT INTO partners VALUES ($1, $2, $3, $4)", cmd.partner_id, cmd.name,
                               cmd.billing_currency, cmd.country)

    await consumer(pool, handlers).handle(record(command("partner.register", PARTNER)))
    assert (len(calls), await pool.fetchval("SELECT count(*) FROM partners")) == (5, 1)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0

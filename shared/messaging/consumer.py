"""One inbound message = one database transaction: inbox claim, handler, outbox; the offset is committed after.

Transient failures (database or broker away) are retried with backoff, holding the partition, so nothing is
skipped; a message that can never be processed is parked in `<topic>.dlq` in a transaction of its own, and the
partition moves on.
"""
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import cast

import asyncpg

from shared import logs, metrics, tracing
from shared.clock import Clock
from shared.contracts import REGISTRY
from shared.contracts.common import CommandRejected
from shared.contracts.envelope import Envelope
from shared.contracts.topics import BY_NAME
from shared.db.deferred import Deferring, execute_sql, prepare
from shared.db.pool import TRANSIENT_DB_ERRORS
from shared.messaging import outbox
from shared.messaging.decode import Decoded, PoisonError, Record, decode
from shared.messaging.handlers import Context, Handlers
from shared.messaging.lease import Lease, gone, roll_back
from shared.messaging.outbox import Row, envelope_for, envelope_row, storable
from shared.messaging.signing import Verifier
from shared.rejection import CommandRejectedError

log = logging.getLogger(__name__)
_COORDINATES = uuid.UUID("6b0c54a8-3f55-4f3e-9d0f-2d7c1a4f0e11")
_COMMAND_IDS = uuid.UUID("0f6f4f5e-8a52-4d8e-a3c1-6f1f2b7d9c40")
_MAX_HANDLER_ATTEMPTS = 3
# The original headers a DLQ copy keeps, at most: with the value (cut to the consumer's limit) and the copy's own
# headers it stays within what the producer sends and a broker takes by default, so one record cannot stop a relay.
_DLQ_HEADER_BYTES = 16 * 1024
_TYPES = frozenset(t for t, _ in REGISTRY)
_CLAIM = "INSERT INTO inbox (message_id, type) VALUES ($1, $2)"
_REJECTION = ("INSERT INTO rejections (message_id, type, code, message, partner_id, correlation_id, rejected_at)"
              " VALUES ($1, $2, $3, $4, $5, $6, $7)")
_DEAD_LETTER = 'INSERT INTO dead_letters (topic, partition, "offset", reason, message_id, type) VALUES ($1, $2, $3, $4, $5, $6)'
_KERNEL_SQL = (_CLAIM, outbox.INSERT, _REJECTION, _DEAD_LETTER)  # prepared on each connection the kernel writes with


def _outbox_sql(rows: Iterable[Row]) -> str:
    return "".join(execute_sql(outbox.INSERT, r) for r in rows)


def _claim_sql(message_id: uuid.UUID, type_: str) -> str:
    """The inbox claim: a message (or parked record) handled before fails it on the inbox key."""
    return execute_sql(_CLAIM, (message_id, type_))


def inbox_id(envelope: Envelope, topic: str) -> uuid.UUID:
    """The inbox key a message is claimed under. A command's id is its publisher's choice, so commands have a key
    space of their own: a command sent with the (predictable) id of an event still to come, a scheduler's term end
    say, cannot claim that event's key and make it a duplicate."""
    spec = BY_NAME.get(topic)
    return uuid.uuid5(_COMMAND_IDS, str(envelope.id)) if spec is not None and spec.carries_commands else envelope.id


def _record_id(record: Record) -> uuid.UUID:
    """The inbox key of a record parked without a readable envelope: where it sits, when it came and what it holds
    (a broker that starts over, Tansu after a restart or a topic recreated, hands out its offsets again)."""
    digest = hashlib.sha256(record.value).hexdigest()[:32]
    where = f"{record.topic}:{record.partition}:{record.offset}"
    return uuid.uuid5(_COORDINATES, f"{where}:{record.timestamp_ms}:{digest}")


def _partner_of(command: Envelope) -> str | None:
    """The partner a refused command was for: its actor's, else the one its data names (operators act for any)."""
    named = command.data.get("partner_id")
    return (command.actor.partner_id if command.actor else None) or (named if isinstance(named, str) else None)


class _Stamp:
    """The instant a fetched batch is handled at: the clock read once, by whichever of its messages needs it first
    (the simulated clock is a database read; the clock only moves between batches that a clock step waits for)."""

    def __init__(self, read: Callable[[], Awaitable[datetime]]) -> None:
        self._read, self._lock = read, asyncio.Lock()
        self._value: datetime | None = None

    async def read(self) -> datetime:
        async with self._lock:
            if self._value is None:
                self._value = await self._read()
            return self._value


class Consumer:
    def __init__(
        self,
        handlers: Handlers,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        max_bytes: int,
        max_backoff_s: float = 5.0,
        on_commit: Callable[[], None] = lambda: None,
        kill_after_commit: str | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.handlers = handlers
        self.service = handlers.service
        self.pool = pool
        self.clock = clock
        self.max_bytes = max_bytes
        self.max_backoff_s = max_backoff_s
        self.on_commit = on_commit
        self.kill_after_commit = kill_after_commit
        self.verifier = verifier  # commands must be signed when set (every service process sets it)

    async def handle_batch(self, records: Iterable[Record]) -> None:
        """Handle a fetched batch: each key's records strictly in order, different keys concurrently, all at one
        stamp (the clock read once, when the first of them needs it). Kafka orders only what shares a key (records of
        two keys may sit in two partitions and be handled at once anyway), so a partition's keys need not wait for
        each other: a topic's concurrency does not hang on its partition count. Workers, one pool connection each
        (the pool keeps one more for the clock and parking), take a key's run of records at a time. Offsets are
        committed after the whole batch, so a partition's committed offset (and a marker behind it) still means all
        before it is done."""
        by_key: dict[tuple[str, int, bytes | None], list[Record]] = {}
        for record in records:
            if not self._skipped(record):  # left out of the runs, so no BEGIN goes out for it with a COMMIT
                by_key.setdefault((record.topic, record.partition, record.key), []).append(record)
        runs, stamp = deque(by_key.values()), _Stamp(self._stamp)
        workers = min(len(runs), max(1, self.pool.get_max_size() - 1))
        await asyncio.gather(*(self._work(runs, stamp) for _ in range(workers)))

    async def _work(self, runs: deque[list[Record]], stamp: "_Stamp") -> None:
        lease, run = Lease(self.pool, _KERNEL_SQL), runs.popleft() if runs else []
        try:
            while run:
                following: list[Record] = []
                for i, record in enumerate(run):
                    if i + 1 == len(run) and runs:
                        following = runs.popleft()  # taken before the last record's COMMIT, which begins for it
                    await self.handle(record, stamp, lease, more=i + 1 < len(run) or bool(following))
                run = following
        finally:
            await lease.release()

    def _skipped(self, record: Record) -> bool:
        """Whether the record is an event no handler here wants, as its `type` header names it: skipped (and counted)
        before it is even decoded. A command is always decoded (handled, or parked with a reason), and so is a record
        whose header names no known type."""
        topic = BY_NAME.get(record.topic)
        if topic is None or topic.carries_commands:
            return False
        type_ = next((v for k, v in record.headers if k == "type"), b"").decode(errors="replace")
        if type_ not in _TYPES or self.handlers.get(type_) is not None:
            return False
        metrics.HANDLED.labels(self.service, type_, "skipped").inc()
        return True

    async def handle(self, record: Record, stamp: "_Stamp | None" = None, lease: Lease | None = None,
                     more: bool = False) -> None:
        """Handle one record on `lease`'s connection (a connection of its own when none); `more`: the caller has
        another record to handle on that lease after this one."""
        if lease is None:
            lease = Lease(self.pool, _KERNEL_SQL)
            try:
                return await self.handle(record, stamp, lease)
            finally:
                await lease.release()
        started = time.perf_counter()
        if stamp is None and self._skipped(record):  # a batch's records were looked at by handle_batch
            return
        try:
            decoded = decode(record, self.max_bytes, self.verifier)
        except PoisonError as poison:
            await lease.release()  # parking takes a connection of its own
            with self._context(record, poison.envelope):
                await self._retrying(partial(self._park, record, poison), lease)
            return
        if decoded is None:
            return
        if self.handlers.get(decoded.spec.type) is None or not self.handlers.wants(decoded.spec.type, decoded.data):
            metrics.HANDLED.labels(self.service, decoded.spec.type, "skipped").inc()
            return
        now = await (stamp or _Stamp(self._stamp)).read()  # the instant every rule is evaluated at, kept across retries
        with self._context(record, decoded.envelope):
            await self._retrying(lambda: self._apply(decoded, now, record, lease, more), lease, record,
                                 decoded.envelope)
        metrics.LATENCY.labels(self.service).observe(time.perf_counter() - started)

    async def _stamp(self) -> datetime:
        """Read the clock; the simulated one lives in the database, so a database away is waited on here too."""
        attempt = 0
        while True:
            try:
                return await self.clock.now()
            except TRANSIENT_DB_ERRORS as e:
                attempt += 1
                metrics.FAILED.labels(self.service, "transient").inc()
                log.warning("%s: clock unreadable (attempt %d), retrying: %r", self.service, attempt, e)
                await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff_s, 0.05 * 2 ** min(attempt, 10))

    @contextlib.contextmanager
    def _context(self, record: Record, envelope: Envelope | None) -> Iterator[None]:
        """The message's span (when tracing) and log context, around all of its handling."""
        if envelope is None:
            yield
            return
        with tracing.consuming(envelope, record.topic, record.partition, record.offset, record.headers) as trace_id, \
                logs.message_context(envelope, trace_id):
            yield

    async def _retrying(
        self, work: Callable[[], Awaitable[bool]], lease: Lease, record: Record | None = None,
        envelope: Envelope | None = None
    ) -> None:
        """Run `work` until it commits: forever on transient errors, a few times on others, then park it.
        `work` says whether it wrote outbox rows; only then is the relay woken (`on_commit`)."""
        attempt, errors = 0, 0
        while True:
            attempt += 1
            try:
                if await work():
                    self.on_commit()
                return
            except TRANSIENT_DB_ERRORS as e:
                metrics.FAILED.labels(self.service, "transient").inc()
                log.warning("%s: transient failure (attempt %d), retrying: %r", self.service, attempt, e)
            except Exception as e:
                if record is None:
                    raise
                errors += 1
                metrics.FAILED.labels(self.service, "error").inc()
                log.exception("%s: handler failed (%d/%d)", self.service, errors, _MAX_HANDLER_ATTEMPTS)
                if errors == _MAX_HANDLER_ATTEMPTS:  # then parking is retried, with the same backoff
                    await lease.release()  # parking takes a connection of its own
                    poison = PoisonError(f"handler failed: {type(e).__name__}: {e}", envelope, "INTERNAL_ERROR")
                    work = partial(self._park, record, poison)
            await asyncio.sleep(self._backoff(attempt))

    async def _apply(self, m: Decoded, now: datetime, record: Record, lease: Lease, more: bool) -> bool:
        handler = self.handlers.get(m.spec.type)
        assert handler is not None
        # Round trips are what a message costs here. The transaction is open already (BEGIN went with the last
        # COMMIT) or opened now; then come the handler's reads; its writes, the inbox claim and the outbox rows go
        # with the COMMIT (literals, simple query protocol), with the next message's BEGIN while there is one. The
        # claim is a plain INSERT: a message handled already fails it on the inbox key, and its work rolls back.
        # A rejected command rolls the handler's work back and commits its claim and rejection in one round trip.
        conn = await lease.begun()
        end = "COMMIT; BEGIN" if more else "COMMIT"
        key = inbox_id(m.envelope, record.topic)
        claim = _claim_sql(key, m.envelope.type)
        deferring = Deferring(conn)  # the handler's writes, kept for the COMMIT
        outcome, ctx = "applied", Context(cast(asyncpg.Connection, deferring), m.envelope, now, self.service)
        try:
            try:
                await handler(ctx, m.data)
            except CommandRejectedError as rejection:
                if not m.spec.topic.carries_commands:
                    raise  # an event is a fact; a handler refusing one is a bug, parked after retries
                await conn.execute("ROLLBACK; BEGIN; " + claim + self._rejection_sql(
                    m.envelope, now, record, rejection.code, rejection.message) + end)
                outcome, ctx = "rejected", None
                metrics.REJECTED.labels(self.service, m.envelope.type, rejection.code).inc()
                log.info("%s: rejected %s: %s: %s", self.service, m.envelope.type, rejection.code, rejection.message)
            else:
                await ctx.flush_side_effects()
                await conn.execute(claim + deferring.pending() + _outbox_sql(ctx.outbox) + end)
        except BaseException as e:
            await roll_back(conn)
            if isinstance(e, TRANSIENT_DB_ERRORS) or not isinstance(e, Exception) \
                    or not await self._handled(conn, key):
                raise
            outcome, ctx = "duplicate", None  # handled before: its claim failed, or its handler did on what it left
        if ctx is not None:
            metrics.committed(self.service, ctx.emitted)
        metrics.HANDLED.labels(self.service, m.spec.type, outcome).inc()
        tracing.annotate(outcome=outcome)
        if outcome != "duplicate":
            self._fault_point(m.envelope.id)
        return outcome == "rejected" or bool(ctx and ctx.outbox)

    @staticmethod
    async def _handled(conn: asyncpg.Connection, message_id: uuid.UUID) -> bool:
        """Whether the inbox holds the message id (asked after a failure; a connection gone cannot tell)."""
        if gone(conn):
            return False
        return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM inbox WHERE message_id = $1)", message_id))

    def _rejection_sql(self, cause: Envelope, now: datetime, record: Record, code: str, message: str) -> str:
        """The statements publishing the command's one outcome, a rejection, on its area's events topic under the
        command's key, and recording it for operators (literals, for the round trip of the COMMIT)."""
        message = storable(message)
        data = CommandRejected(command_type=cause.type, code=code, message=message)
        area = BY_NAME[record.topic].area
        out = envelope_for(f"{area}.command_rejected", data, occurred_at=now, source=self.service, cause=cause)
        key = record.key.decode("utf-8", "replace") if record.key else str(cause.id)
        partner = _partner_of(cause)
        return _outbox_sql([envelope_row(out, key)]) + execute_sql(_REJECTION, (
            cause.id, cause.type, code, message[:2000], None if partner is None else storable(partner),
            cause.correlation_id, now))

    async def _park(self, record: Record, poison: PoisonError) -> bool:
        try:
            return await self._park_as(record, poison)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as e:  # the record itself defeats parking: park it bare rather than block the partition
            log.exception("%s: could not park %s[%d]@%d as it is; parking it bare", self.service, record.topic,
                          record.partition, record.offset)
            return await self._park_as(record, PoisonError(f"{poison.reason} (parked bare: {type(e).__name__}: {e})"),
                                       bare=True)

    async def _park_as(self, record: Record, poison: PoisonError, bare: bool = False) -> bool:
        """Park the record in `<topic>.dlq` with its reason and origin; bare: no envelope, only our own headers."""
        env, reason = poison.envelope, storable(poison.reason)
        message_id = inbox_id(env, record.topic) if env and poison.claims_id else _record_id(record)
        topic = BY_NAME.get(record.topic)
        rejecting = env is not None and topic is not None and topic.carries_commands
        # Read before taking a connection: the simulated clock takes one of its own from the same pool, and parkings
        # each holding a connection while waiting for another would exhaust it.
        now = await self.clock.now() if rejecting else None
        kept = [(k, v) for k, v in record.headers if not k.startswith("nce-dlq-") and not bare]
        size = sum(len(k.encode("utf-8", "replace")) + len(v) for k, v in kept)
        if size > _DLQ_HEADER_BYTES:
            kept = [("nce-dlq-headers-dropped", str(size).encode())]
        headers = [
            *kept,
            ("nce-dlq-reason", reason[:1000].encode()),
            ("nce-dlq-topic", record.topic.encode()),
            ("nce-dlq-partition", str(record.partition).encode()),
            ("nce-dlq-offset", str(record.offset).encode()),
            ("nce-dlq-consumer", self.service.encode()),
        ]
        # One round trip, as a message's COMMIT: the claim (a record parked before fails it on the inbox key), the
        # DLQ copy through the outbox, the operators' row and, for a readable command, its rejection.
        sql = (_claim_sql(message_id, env.type if env else "?")
               + _outbox_sql([outbox.row(f"{record.topic}.dlq", record.key, record.value[: self.max_bytes], headers)])
               + execute_sql(_DEAD_LETTER, (record.topic, record.partition, record.offset, reason,
                                            env.id if env else None, env.type if env else None)))
        if rejecting:
            assert env is not None and now is not None
            sql += self._rejection_sql(env, now, record, poison.code, reason)
        async with self.pool.acquire() as conn:
            await prepare(conn, _KERNEL_SQL)
            try:
                await conn.execute("BEGIN; " + sql + "COMMIT")
            except BaseException as e:
                await roll_back(conn)
                if isinstance(e, Exception) and not isinstance(e, TRANSIENT_DB_ERRORS) \
                        and await self._handled(conn, message_id):
                    return False  # parked before: a redelivery
                raise
        log.warning("%s: parked %s[%d]@%d in the DLQ: %s", self.service, record.topic, record.partition,
                    record.offset, reason)
        metrics.DEAD_LETTERED.labels(self.service, record.topic).inc()
        metrics.HANDLED.labels(self.service, env.type if env else "?", "dead_lettered").inc()
        return True

    def _fault_point(self, message_id: uuid.UUID) -> None:
        """Test-only fault injection: die by SIGKILL after the commit, before the offset commit."""
        if self.kill_after_commit and str(message_id) == self.kill_after_commit:
            log.error("%s: fault injection: SIGKILL after committing %s", self.service, message_id)
            os.kill(os.getpid(), signal.SIGKILL)


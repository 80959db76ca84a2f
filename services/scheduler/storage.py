"""The scheduler's own tables: timers, and firing them into the outbox."""
import asyncio
import json
import random
import zlib
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

import asyncpg
from pydantic import BaseModel

from shared.contracts.envelope import Envelope
from shared.contracts.common import MAX_TERMS_PER_EVENT
from shared.contracts.scheduler import MonthEnded
from shared.dates import month_after, start_of_day
from shared.messaging.outbox import envelope_for

from services.scheduler.domain.timers import event_id


def _headers(envelope: Envelope) -> str:
    return json.dumps([[k, v.decode()] for k, v in envelope.headers()])


def timer_row(kind: str, key: str, due_at: datetime, partition_key: str, event_type: str, event: BaseModel,
              now: datetime) -> tuple[Any, ...]:
    """A timer as stored: its event rendered now (envelope, deterministic id, headers), emitted as is when due
    (term ends: grouped by customer and instant, see fired_rows)."""
    envelope = envelope_for(event_type, event, occurred_at=due_at, source="scheduler", id=event_id(kind, key, due_at))
    headers = _headers(envelope)
    return (kind, key, due_at, partition_key.encode(), envelope.id, headers, envelope.to_bytes(), now,
            bucket_of(partition_key))


async def set_timer(conn: asyncpg.Connection, kind: str, key: str, due_at: datetime, partition_key: str,
                    event: BaseModel, event_type: str, now: datetime) -> None:
    """Create or move the one timer of (kind, key); when due it emits `event` as `event_type`."""
    await conn.execute(
        """INSERT INTO timers (kind, key, due_at, partition_key, event_id, headers, payload, updated_at, bucket)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)
           ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, partition_key = EXCLUDED.partition_key,
           event_id = EXCLUDED.event_id, headers = EXCLUDED.headers, payload = EXCLUDED.payload,
           updated_at = EXCLUDED.updated_at, bucket = EXCLUDED.bucket""",
        *timer_row(kind, key, due_at, partition_key, event_type, event, now),
    )


Timer = tuple[str, str, datetime, str, BaseModel, str]  # kind, key, due at, partition key, event, event type

# A subscription's cycle timer keys: `subject@YYYY-MM-DD`. Byte order (COLLATE "C", as the index
# timers_kind_key_bytes) lets the prefix bound an index scan; the length keeps out the keys of another subscription
# whose id begins with `subject@` (an id may contain "@").
_CYCLES_OF = """key COLLATE "C" ^@ ({subject} || '@') AND length(key) = length({subject}) + 11"""

# Times a subscription's term ($1) in one statement: its cycle timers are cleared but for those given again, and the
# given timers (term end, cycles) created or moved. No row is both deleted and written by it.
_TIME_TERM = f"""
WITH cleared AS (
    DELETE FROM timers WHERE kind = 'cycle' AND {_CYCLES_OF.format(subject="$1")} AND key <> ALL($3::text[])
)
INSERT INTO timers (kind, key, due_at, partition_key, event_id, headers, payload, updated_at, bucket)
SELECT kind, key, due_at, partition_key, event_id, headers, payload, $10, bucket
FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::bytea[], $6::uuid[], $7::jsonb[], $8::bytea[],
            $9::smallint[]) AS given (kind, key, due_at, partition_key, event_id, headers, payload, bucket)
ON CONFLICT (kind, key) DO UPDATE SET due_at = EXCLUDED.due_at, partition_key = EXCLUDED.partition_key,
    event_id = EXCLUDED.event_id, headers = EXCLUDED.headers, payload = EXCLUDED.payload,
    updated_at = EXCLUDED.updated_at, bucket = EXCLUDED.bucket
"""


TermTimers = tuple[str, list[Timer]]  # a subscription's term: its timers (term end, cycles)


def _stored(timer: Timer, now: datetime) -> tuple[Any, ...]:
    kind, key, due_at, partition_key, event, event_type = timer
    return timer_row(kind, key, due_at, partition_key, event_type, event, now)


def _term_args(subscription_id: str, timers: list[Timer], now: datetime) -> tuple[Any, ...]:
    rows = [_stored(timer, now) for timer in timers]
    kind, key, due_at, partition_key, event_id, headers, payload, _, bucket = zip(*rows, strict=True)
    return subscription_id, kind, key, due_at, partition_key, event_id, headers, payload, bucket, now


async def time_terms(conn: asyncpg.Connection, terms: list[TermTimers], now: datetime) -> None:
    """Set each term's timers (term end, charge cycles), replacing its subscription's cycle timers: one statement
    per term, all in one round trip."""
    await conn.executemany(_TIME_TERM, [_term_args(*term, now) for term in terms])


def month_end(month: date) -> Timer:
    """The end of `month` (its first day), when billing closes that month's invoices. One is always armed: the
    scheduler arms its clock's month at start (arm_month_end), and firing one arms the next (_fire_free_buckets), so
    every month closes, whatever was charged in it and however late."""
    instant = start_of_day(month_after(month))
    ended = MonthEnded(month=f"{month:%Y-%m}", instant=instant)
    return "month_end", ended.month, instant, "months", ended, "scheduler.month_ended"


_ENSURE = """INSERT INTO timers (kind, key, due_at, partition_key, event_id, headers, payload, updated_at, bucket)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) ON CONFLICT (kind, key) DO NOTHING"""


async def arm_month_end(pool: asyncpg.Pool, now: datetime) -> None:
    """Arm the end of `now`'s month unless it is armed (a chain fired up to an earlier month arms it again: a no-op)."""
    await pool.execute(_ENSURE, *_stored(month_end(now.date().replace(day=1)), now))


async def cancel_timer(conn: asyncpg.Connection, kind: str, key: str) -> None:
    await conn.execute("DELETE FROM timers WHERE kind = $1 AND key = $2", kind, key)


CANCEL_TERM = f"""WITH ended AS (DELETE FROM timers WHERE kind = 'term_end' AND key = $1)
DELETE FROM timers WHERE kind = 'cycle' AND {_CYCLES_OF.format(subject="$1")}"""


async def cancel_term(conn: asyncpg.Connection, subscription_id: str) -> None:
    """A subscription's term end and every one of its charge cycles (keys `subscription_id@…`), in one statement."""
    await conn.execute(CANCEL_TERM, subscription_id)


# A firing transaction claims a batch of one bucket's due timers (SKIP LOCKED) in due order, a customer's timers of
# one instant together, then deletes them and moves their rendered events to the outbox in that order, in one more
# statement. A customer's timers all live in one bucket, and a transaction-level advisory lock lets one instance fire
# a bucket at a time: a customer's outbox rows then follow commit order, so the relay never publishes its later event
# before an earlier one, while instances fire different buckets in parallel. A customer's term ends due at one instant go out as one `scheduler.terms_ended`
# (up to MAX_TERMS_PER_EVENT), in the place of the first of them: the subscription service renews them in one
# transaction. Only the customer's other timers of that instant (cycles, lifecycle steps: kinds sorting before
# "term_end") can sit between them, and those stay before the group, so no customer's events change order.
BUCKETS = 16
# A month's end fires only once every other timer due before it has fired (in any bucket, by any transaction): after
# an outage over a month end, the month's last charges reach billing's outbox before the month closes (§4.1).
_CLAIM = """
SELECT kind, key, due_at, partition_key, event_id, headers, payload FROM timers t
WHERE bucket = ANY($3::smallint[]) AND due_at <= $1
  AND (kind <> 'month_end' OR NOT EXISTS (SELECT FROM timers e WHERE e.due_at < t.due_at AND e.kind <> 'month_end'))
ORDER BY due_at, partition_key, kind, key LIMIT $2
FOR UPDATE SKIP LOCKED
"""
_MOVE = """
WITH fired AS (
    DELETE FROM timers t USING unnest($1::text[], $2::text[]) AS f (kind, key) WHERE t.kind = f.kind AND t.key = f.key
)
INSERT INTO outbox (topic, key, headers, payload)
SELECT 'nce.scheduler.events', k, h, p
FROM unnest($3::bytea[], $4::jsonb[], $5::bytea[]) WITH ORDINALITY AS o (k, h, p, n)
ORDER BY n
"""


def _terms_ended(members: list[asyncpg.Record]) -> tuple[bytes, str, bytes]:
    """One customer's term ends due at one instant as one event. Its id derives from theirs (a lone term's is its
    own), so a batch fired again after a crash is the same event to the subscription service."""
    events = [json.loads(m["payload"])["data"] for m in members]
    ids = sorted(str(m["event_id"]) for m in members)
    data = {"customer_id": events[0]["customer_id"], "instant": events[0]["instant"],
            "terms": [{"subscription_id": e["subscription_id"], "term_end": e["term_end"]} for e in events]}
    group_id = UUID(ids[0]) if len(ids) == 1 else uuid5(UUID(ids[0]), ",".join(ids))
    envelope = envelope_for("scheduler.terms_ended", data, occurred_at=members[0]["due_at"], source="scheduler",
                            id=group_id)
    return members[0]["partition_key"], _headers(envelope), envelope.to_bytes()


def fired_rows(claimed: list[asyncpg.Record]) -> list[tuple[bytes, str, bytes]]:
    """The outbox rows (key, headers, payload) of claimed timers in due order, a customer's term ends of one instant
    grouped into one event where the first of them stood."""
    rows: list[tuple[bytes, str, bytes] | list[asyncpg.Record]] = []
    open_groups: dict[tuple[bytes, datetime], list[asyncpg.Record]] = {}
    for timer in claimed:
        if timer["kind"] != "term_end":
            rows.append((timer["partition_key"], timer["headers"], timer["payload"]))
            continue
        group = open_groups.get((timer["partition_key"], timer["due_at"]))
        if group is None or len(group) == MAX_TERMS_PER_EVENT:
            group = open_groups[(timer["partition_key"], timer["due_at"])] = []
            rows.append(group)
        group.append(timer)
    return [_terms_ended(row) if isinstance(row, list) else row for row in rows]


def bucket_of(partition_key: str) -> int:
    return zlib.crc32(partition_key.encode()) % BUCKETS


# A transaction takes at most half the buckets. An instance runs two such transactions at once, trying the buckets
# from opposite ends of one random order: alone, it covers every bucket in one round on two connections (two cores of
# PostgreSQL's work); with a second instance running, the free buckets are shared out among all four.
# The LIMIT stops the scan, so only the buckets kept are locked.
_TAKE_BUCKETS = f"""
SELECT coalesce(array_agg(b), '{{}}') FROM (
    SELECT b FROM unnest($1::smallint[]) AS b WHERE pg_try_advisory_xact_lock(hashtext('scheduler:fire'), b)
    LIMIT {BUCKETS // 2}) AS taken
"""


async def _fire_free_buckets(pool: asyncpg.Pool, now: datetime, batch: int, order: list[int]) -> int:
    async with pool.acquire() as conn, conn.transaction():
        buckets = await conn.fetchval(_TAKE_BUCKETS, order)
        claimed = await conn.fetch(_CLAIM, now, batch, buckets) if buckets else []
        if claimed:
            key, headers, payload = zip(*fired_rows(claimed), strict=True)
            await conn.execute(_MOVE, [t["kind"] for t in claimed], [t["key"] for t in claimed], key, headers,
                               payload)
            if nexts := [month_end(month_after(date.fromisoformat(f"{t['key']}-01"))) for t in claimed
                         if t["kind"] == "month_end"]:  # the same bucket ("months"): the next month end, armed
                await conn.executemany(_ENSURE, [_stored(timer, now) for timer in nexts])
        return len(claimed)


async def fire_due(pool: asyncpg.Pool, now: datetime, batch: int = 5000) -> int:
    """Emit the events of timers due by `now` in the buckets free to take; how many fired (0: none free or due)."""
    order = random.sample(range(BUCKETS), BUCKETS)  # from opposite ends: alone, the two take every bucket between them
    return sum(await asyncio.gather(*(_fire_free_buckets(pool, now, batch, o) for o in (order, order[::-1]))))


async def next_due(pool: asyncpg.Pool, after: datetime) -> datetime | None:
    return await pool.fetchval("SELECT min(due_at) FROM timers WHERE due_at > $1", after)


async def due_count(pool: asyncpg.Pool, now: datetime) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM timers WHERE due_at <= $1", now))


async def due_stats(pool: asyncpg.Pool, now: datetime) -> tuple[int, datetime | None]:
    """How many timers are due by `now` and not fired yet, and when the oldest of them fell due."""
    row = await pool.fetchrow("SELECT count(*) AS due, min(due_at) AS oldest FROM timers WHERE due_at <= $1", now)
    return int(row["due"]), row["oldest"]


async def timers(pool: asyncpg.Pool, key: str | None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT kind, key, due_at, event_id::text, payload FROM timers WHERE $1::text IS NULL OR key = $1"
        " ORDER BY due_at, kind, key LIMIT 1000",
        key,
    )
    events = [json.loads(r["payload"]) for r in rows]
    return [{"kind": r["kind"], "key": r["key"], "due_at": r["due_at"].isoformat(), "event_id": r["event_id"],
             "event_type": e["type"], "data": e["data"]} for r, e in zip(rows, events, strict=True)]

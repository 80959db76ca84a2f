"""The embedded broker's CPU per message over time, under a steady load and nothing else: does it stay flat?

Run: `PYTHONPATH=. .venv/bin/python bench/broker_growth.py [--rate 400] [--seconds 60] [--groups 3]`.

A fresh embedded Tansu (memory storage, as `shared/infra.py` starts it), one topic of --partitions partitions, one
producer publishing --rate messages/s (300 B, keyed, linger --linger-ms) and --groups consumer groups reading
everything as it comes. Partitions, linger, fetch wait and group timeouts are by default the services' on Tansu
(`infra.tansu_settings()`). Every --window-s seconds it prints the broker's CPU ms per message published in that
window. No service and no database run, so any growth is the broker's own.

Why: under the steady load (bench/steady_load.py) the broker's CPU per command grew from 0.4 to 1.1 ms within a
minute. Tansu's memory storage keeps each produced batch as an object and lists a partition's objects whenever it
reads new data from it, and it never deletes any (no retention), so reading costs more the longer it runs.
One JSON document goes to stdout.
"""
import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.harness import machine
from shared.infra import start_tansu, stop_process, tansu_settings
from shared.messaging.kafka import ensure_topics
from shared.settings import KafkaSettings

TOPIC = "growth"
MESSAGE = b"m" * 300
SETTING = {k.removeprefix("NCE_KAFKA_").lower(): int(v) for k, v in tansu_settings().items() if v.isdigit()}


async def consume(bootstrap: str, group: str, counts: dict[str, int]) -> None:
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                fetch_max_wait_ms=SETTING["fetch_max_wait_ms"],
                                session_timeout_ms=SETTING["session_timeout_ms"],
                                heartbeat_interval_ms=SETTING["heartbeat_interval_ms"])
    await consumer.start()
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                counts[group] += len(records)
    finally:
        await consumer.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="nce-growth-"))  # the broker's log, removed at the end
    broker, bootstrap = start_tansu(logs)
    process = psutil.Process(broker.pid)

    def cpu() -> float:
        return sum(process.cpu_times()[:2])

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=args.linger_ms, enable_idempotence=False)
    await producer.start()
    try:
        await ensure_topics(KafkaSettings(kafka_bootstrap=bootstrap, kafka_partitions=args.partitions), [TOPIC])
        counts = {f"g{k}": 0 for k in range(args.groups)}
        readers = [asyncio.create_task(consume(bootstrap, g, counts)) for g in counts]
        await asyncio.sleep(8)  # the groups have joined
        windows, sent, t0 = [], 0, time.time()
        mark = (t0, cpu(), 0)
        while (elapsed := time.time() - t0) < args.seconds:
            for _ in range(int(elapsed * args.rate) - sent):
                await producer.send(TOPIC, MESSAGE, key=str(sent).encode())
                sent += 1
            await asyncio.sleep(0.005)
            if time.time() - mark[0] >= args.window_s:
                now, used = time.time(), cpu()
                windows.append({"to_s": round(now - t0), "messages": sent - mark[2],
                                "broker_cpu_ms_per_message": round((used - mark[1]) * 1000 / (sent - mark[2]), 3)})
                print(json.dumps(windows[-1]), flush=True, file=sys.stderr)
                mark = (now, used, sent)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        return {"conditions": {"machine": machine(), "broker": "embedded-tansu, memory storage",
                               "partitions": args.partitions, "message_bytes": len(MESSAGE), "rate": args.rate,
                               "linger_ms": args.linger_ms,
                               "fetch_max_wait_ms": SETTING["fetch_max_wait_ms"],
                               "consumer_groups": args.groups, "seconds": args.seconds},
                "published": sent, "consumed": counts, "windows": windows,
                "growth": round(windows[-1]["broker_cpu_ms_per_message"] / windows[0]["broker_cpu_ms_per_message"], 2)
                if windows else None}
    finally:
        await producer.stop()
        stop_process(broker)
        shutil.rmtree(logs, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=400, help="messages per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--groups", type=int, default=3, help="consumer groups reading the topic")
    parser.add_argument("--linger-ms", type=int, default=SETTING["linger_ms"])
    parser.add_argument("--partitions", type=int, default=SETTING["partitions"])
    parser.add_argument("--window-s", type=float, default=10)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()

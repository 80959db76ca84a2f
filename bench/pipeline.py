"""Pipeline benchmark: raw broker throughput versus one platform hop (consume → inbox/handler/outbox → relay).

Run: `make bench` or `.venv/bin/python bench/pipeline.py --n 20000`. Uses NCE_KAFKA_BOOTSTRAP/NCE_DATABASE_URL when
set, else the embedded Tansu broker and PostgreSQL (see shared/infra.py). Prints conditions and messages/s.
"""
import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared import infra
from shared.clock import SystemClock
from shared.contracts.envelope import OPERATOR, new_envelope
from shared.contracts.subscription import PartnerRegistered, RegisterPartner
from shared.messaging.handlers import Context, Handlers
from shared.messaging.kafka import ensure_topics
from shared.messaging.signing import Signer
from shared.runtime import Runtime, ServiceDef, connect, shutdown
from shared.settings import ServiceSettings

SIZE = 300
PARTITIONS = 4
LINGER_MS = 5


def payloads(n: int) -> list[bytes]:
    """n distinct partner.register envelopes padded to SIZE bytes."""
    out = []
    for i in range(n):
        data = {"partner_id": f"P{i}", "name": "", "billing_currency": "USD", "country": "US"}
        env = new_envelope(id=uuid.uuid4(), type="partner.register", data=data, occurred_at=datetime.now(UTC),
                           source="bench", actor=OPERATOR)
        data["name"] = "x" * max(1, SIZE - len(env.to_bytes()))
        out.append(env.model_copy(update={"data": data}).to_bytes())
    return out


async def produce(bootstrap: str, topic: str, values: list[bytes],
                  headers: list[list[tuple[str, bytes]]] | None = None) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=LINGER_MS, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, v, key=str(i % 64).encode(), headers=headers[i] if headers else None)
               for i, v in enumerate(values)]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await producer.stop()
    return elapsed


async def count_until(bootstrap: str, topic: str, n: int, group: str | None = None) -> tuple[float, float]:
    """Read `topic` from the beginning until n records; return (time of first record, time of the nth)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, session_timeout_ms=2000, heartbeat_interval_ms=500)
    await consumer.start()
    seen, first = 0, 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            got = sum(len(r) for r in batch.values())
            if got and not first:
                first = time.perf_counter()
            seen += got
        return first, time.perf_counter()
    finally:
        await consumer.stop()


async def raw_hop(bootstrap: str, source: str, sink: str, n: int) -> float:
    """Consume n records and re-publish each (no database): the broker-only baseline of one hop."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=2000, heartbeat_interval_ms=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=LINGER_MS, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    seen, started = 0, 0.0
    while seen < n:
        batch = await consumer.getmany(timeout_ms=500, max_records=200)
        started = started or time.perf_counter()
        futures = [await producer.send(sink, r.value, key=r.key) for rs in batch.values() for r in rs]
        await asyncio.gather(*futures)
        await consumer.commit()
        seen += len(futures)
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return elapsed


async def platform_hop(stack: infra.Infra, n: int, keys: dict[str, str]) -> tuple[float, dict[str, int]]:
    handlers = Handlers("subscription")

    @handlers.on("partner.register")
    async def forward(ctx: Context, cmd: RegisterPartner) -> None:
        await ctx.emit("partner.registered", PartnerRegistered(**cmd.model_dump()), key=cmd.partner_id)

    tuned = {k.removeprefix("NCE_").lower(): v for k, v in stack.settings.items()}  # the broker's (Tansu's) settings
    settings = ServiceSettings(**{**tuned, "kafka_partitions": PARTITIONS}, service="subscription",
                               kafka_bootstrap=stack.kafka_bootstrap, database_url=stack.database_url,
                               command_keys=keys)
    rt = Runtime(settings=settings, clock=SystemClock())
    defn = ServiceDef("subscription", handlers, Path("/nonexistent"))
    waiting = asyncio.create_task(count_until(stack.kafka_bootstrap, "nce.subscription.events", n))
    connecting = asyncio.create_task(connect(defn, rt))
    first, last = await waiting
    await shutdown(rt, connecting)
    conn = await asyncpg.connect(stack.database_url)
    try:  # every message took the handler's path: none was refused (unsigned, say) and parked
        parked = await conn.fetchval("SELECT count(*) FROM subscription.dead_letters")
    finally:
        await conn.close()
    if parked:
        raise RuntimeError(f"{parked} of the platform hop's messages were dead-lettered; see the DLQ reasons")
    return last - first, {"consumer_max_records": settings.consumer_max_records, "relay_batch": 500}


async def measure(n: int) -> dict:
    """The four paths on a fresh broker and database of their own; conditions, msgs/s and the ratio b/a3."""
    data_dir = infra.claim_scratch_dir("nce-bench-")
    stack = infra.start(data_dir)
    try:
        settings = ServiceSettings(service="catalog", kafka_bootstrap=stack.kafka_bootstrap,
                                   database_url=stack.database_url, kafka_partitions=PARTITIONS)
        await ensure_topics(settings, ["bench.raw.in", "bench.raw.out", "nce.subscription.commands", "nce.subscription.events"])
        values = payloads(n)
        produce_s = await produce(stack.kafka_bootstrap, "bench.raw.in", values)
        first, last = await count_until(stack.kafka_bootstrap, "bench.raw.in", n)
        consume_s = last - first
        hop_s = await raw_hop(stack.kafka_bootstrap, "bench.raw.in", "bench.raw.out", n)
        # commands are signed as every outside publisher signs them (the services verify each one)
        signer = Signer("nce-bench", secrets.token_urlsafe(32), ttl=timedelta(hours=1))
        await produce(stack.kafka_bootstrap, "nce.subscription.commands", values,
                      [[signer.header(v, OPERATOR, datetime.now(UTC))] for v in values])
        platform_s, knobs = await platform_hop(stack, n, {signer.issuer: signer.key})
    finally:
        stack.close()
        infra.remove_tree(data_dir)
    rate = lambda seconds: n / seconds
    return {
        "conditions": {
            "messages": n, "message_bytes": len(values[0]), "partitions": PARTITIONS, "producer_linger_ms": LINGER_MS,
            "producer_batch_bytes": 256 * 1024, **knobs, "broker": stack.kafka_kind, "database": stack.database_kind,
            "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                       f"Python {platform.python_version()}", "client_and_broker": "same machine",
        },
        "msgs_per_s": {
            "a1_raw_produce": round(rate(produce_s)),
            "a2_raw_consume": round(rate(consume_s)),
            "a3_raw_hop_consume_then_produce": round(rate(hop_s)),
            "b_platform_hop_inbox_outbox_relay": round(rate(platform_s)),
        },
        "ratio_b_over_a3": round(platform_s and hop_s / platform_s, 3),
    }


async def main(n: int) -> None:
    print(json.dumps(await measure(n), indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args().n))

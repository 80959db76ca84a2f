"""Markers: a kernel message published to every partition, to learn where each partition ends.

Tansu reports wrong end offsets once a producer batches (`end_offsets` gives the last batch's base + 1), so "how far
behind is a consumer group" is measured against a marker's own offset instead: everything before the marker was
in the partition when it was written. Consumers skip markers (`decode` returns None), committing past them. The
simulated clock waits for every group to pass its markers; the consumer-lag gauge counts what lies before them.
"""
import asyncio
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.envelope import new_envelope
from shared.messaging.decode import MARKER


async def mark(producer: AIOKafkaProducer, topics: set[str]) -> dict[TopicPartition, int]:
    """Publish a marker to every partition of `topics`; the offset each landed at."""
    marker = new_envelope(id=uuid.uuid4(), type=MARKER, data={}, occurred_at=datetime.now(UTC), source="kernel")
    partitions = [TopicPartition(t, p) for t in sorted(topics) for p in sorted(await producer.partitions_for(t))]
    sent = [await producer.send(tp.topic, marker.to_bytes(), partition=tp.partition, headers=marker.headers())
            for tp in partitions]
    return {tp: meta.offset for tp, meta in zip(partitions, await asyncio.gather(*sent), strict=True)}


async def committed(admin: AIOKafkaAdminClient, group_id: str,
                    partitions: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The group's committed offset (the next record it will read) per partition; None where it has none yet."""
    found = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
    return {tp: found[tp].offset if tp in found and found[tp].offset >= 0 else None for tp in partitions}


def past(marks: dict[TopicPartition, int], offsets: dict[TopicPartition, int | None]) -> bool:
    """Whether the group has committed past every marker."""
    return all(offsets.get(tp) is not None and offsets[tp] > at for tp, at in marks.items())  # type: ignore[operator]


def lag_by_topic(marks: dict[TopicPartition, int], offsets: dict[TopicPartition, int | None]) -> dict[str, int]:
    """Records before each marker the group has not committed yet, summed per topic (markers not counted)."""
    lag: dict[str, int] = {}
    for tp, at in marks.items():
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, at - (offsets.get(tp) or 0))
    return lag

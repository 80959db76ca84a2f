"""The `nce_consumer_lag` gauge of one service's consumer group, measured against markers when scraped.

Measuring writes a marker to each partition the service consumes, so it happens only when someone asks (a
Prometheus scrape), at most once per `min_interval_s`; between measurements the gauge keeps the last values.
"""
import asyncio
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared import metrics
from shared.messaging.kafka import make_admin
from shared.messaging.markers import committed, lag_by_topic, mark
from shared.settings import KafkaSettings


class ConsumerLag:
    def __init__(self, producer: AIOKafkaProducer, kafka: KafkaSettings, service: str, group_id: str,
                 topics: list[str], min_interval_s: float) -> None:
        self.producer, self.kafka, self.service, self.group_id = producer, kafka, service, group_id
        self.topics = set(topics)
        self.min_interval_s = min_interval_s
        self._admin: AIOKafkaAdminClient | None = None
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> dict[str, int] | None:
        """Measure now unless measured within the interval (or by a concurrent scrape); the lag per topic."""
        async with self._lock:
            if time.monotonic() - self._last < self.min_interval_s:
                return None
            if self._admin is None:
                admin = make_admin(self.kafka, f"nce-{self.service}-lag")
                try:
                    await admin.start()
                except BaseException:
                    await admin.close()
                    raise
                self._admin = admin
            marks = await mark(self.producer, self.topics)
            lag = lag_by_topic(marks, await committed(self._admin, self.group_id, list(marks)))
            for topic, behind in lag.items():
                metrics.CONSUMER_LAG.labels(self.service, topic).set(behind)
            self._last = time.monotonic()
            return lag

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()

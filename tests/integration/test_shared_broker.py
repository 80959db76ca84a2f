"""On a shared broker (testcontainers' Kafka, or an explicit scratch one) each test stack starts with no nce.* topic,
as a fresh embedded broker would; run here against the embedded broker, which takes the same admin calls."""
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared import infra

pytestmark = pytest.mark.integration


async def test_clearing_removes_our_topics_and_only_ours(tmp_path: Path) -> None:
    proc, bootstrap = infra.start_tansu(tmp_path)
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(n, 2, 1) for n in ("nce.subscription.commands", "nce.billing.events",
                                                                "someone.elses")])
        await infra.clear_topics(bootstrap)
        assert await admin.list_topics() == ["someone.elses"]
        await admin.create_topics([NewTopic("nce.billing.events", 2, 1)])  # and they can be made again at once
        assert sorted(await admin.list_topics()) == ["nce.billing.events", "someone.elses"]
        await admin.close()
    finally:
        infra.stop_process(proc)

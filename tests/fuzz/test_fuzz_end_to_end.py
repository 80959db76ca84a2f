"""A sample of the generated hostile commands end to end: published to the real broker, handled by the running
subscription service; each one lands on `nce.subscription.commands.dlq` with an `nce-dlq-reason` header or gets its
outcome event (a `command_rejected` or, for a valid one, its success event) on `nce.subscription.events`."""
import asyncio
import json
import uuid
from collections import Counter

import pytest

from services.system import System
from shared.contracts import REGISTRY
from tests.fuzz import TALLY
from tests.fuzz.hostile import command_input, generate, short
from tests.fuzz.test_fuzz_commands import COMMAND_TYPES, sample
from tests.kafka import publish, read

pytestmark = pytest.mark.e2e
COMMANDS, EVENTS = "nce.subscription.commands", "nce.subscription.events"
PER_TYPE = 25


async def test_hostile_commands_over_the_broker_are_dead_lettered_with_a_reason_or_answered(stack) -> None:
    types = [t for t in COMMAND_TYPES if REGISTRY[(t, 1)].topic.name == COMMANDS]
    others = [t for t in COMMAND_TYPES if t not in types]
    inputs = []
    for type_ in types:
        for _, value, _ in generate(command_input(sample(type_), others), PER_TYPE):
            id_ = str(uuid.uuid4())
            inputs.append((id_, value.replace(b'"__ID__"', json.dumps(id_).encode())))
    system = System(stack.env(), stack.log_dir, services=("subscription",))
    system.start()
    try:
        await asyncio.to_thread(system.wait_ready)
        await publish(stack.bootstrap, COMMANDS, [(b"K", value) for _, value in inputs])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while True:  # read both topics again until every input is accounted for (or the deadline)
            parked = await read(stack.bootstrap, f"{COMMANDS}.dlq", until=len(inputs), timeout=3)
            events = [json.loads(r.value) for r in await read(stack.bootstrap, EVENTS, until=len(inputs), timeout=3)]
            answered = {e["causation_id"] for e in events}
            if len(parked) + sum(id_ in answered for id_, _ in inputs) >= len(inputs) or loop.time() > deadline:
                break
    finally:
        system.stop()
    reasons = {}
    for r in parked:
        headers = dict(r.headers)
        reasons.setdefault(int(headers["nce-dlq-offset"]), headers.get("nce-dlq-reason", b"").decode())
    answered = {e["causation_id"]: e["type"] for e in events}
    buckets: Counter[str] = Counter()
    problems = []
    for offset, (id_, value) in enumerate(inputs):  # one key, one partition: offsets in publishing order
        if offset in reasons:
            buckets["dead_lettered"] += 1
            if not reasons[offset]:
                problems.append(f"parked without a reason: {short(value)}")
        elif id_ in answered:
            buckets["rejected" if answered[id_].endswith("command_rejected") else "applied"] += 1
        else:
            problems.append(f"no outcome: {short(value)}")
    TALLY["end to end/subscription"] = buckets
    print(f"\nend to end: {len(inputs)} commands over the broker: {dict(buckets)}")
    assert not problems, f"{len(problems)} of {len(inputs)} without an outcome:\n" + "\n".join(problems[:20])

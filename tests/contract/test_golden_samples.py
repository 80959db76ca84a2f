"""The golden samples: every (type, version) ever registered still reads as it did when it was published.

A change that adds a required field, renames or drops a field, narrows a type or drops a version fails here, as it
would fail an outside system still publishing the old shape. Such a change is a new version (README: contracts).
"""
import dataclasses
import json
from pathlib import Path

import pytest
from pydantic import Field, create_model

from shared.contracts import REGISTRY, spec_for
from shared.contracts.common import Data
from shared.messaging.decode import PoisonError, Record, decode
from shared.settings import ServiceSettings
from tests.contract.write_samples import SAMPLES, differences, path_of

SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))
MAX_BYTES = ServiceSettings.model_fields["max_message_bytes"].default


def test_every_registered_type_and_version_has_a_sample_and_every_sample_is_still_registered() -> None:
    have, registered = {p.name for p in SAMPLE_FILES}, {path_of(t, v).name for t, v in REGISTRY}
    assert sorted(registered - have) == [], "no golden sample yet: run python -m tests.contract.write_samples"
    assert sorted(have - registered) == [], "dropped from the registry: a published version must keep parsing"


def lost(path: Path) -> list[str]:
    """What of the sample the current code no longer reads back (PoisonError when it can't read it at all)."""
    raw = path.read_bytes()
    sample = json.loads(raw)
    spec = spec_for(sample["type"], sample["version"])
    assert spec is not None and path.name == path_of(spec.type, spec.version).name
    decoded = decode(Record(spec.topic.name, 0, 0, None, raw), MAX_BYTES)  # as every consumer decodes
    assert decoded is not None
    # With extra="ignore" a renamed or removed optional field would vanish silently: the re-serialisation must
    # still carry every field of the sample, with the same value.
    return differences(sample, {**decoded.envelope.model_dump(mode="json"),
                                "data": decoded.data.model_dump(mode="json")}, "envelope")


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_a_sample_decodes_as_its_consumers_decode_it_and_keeps_every_field_it_carries(path: Path) -> None:
    assert lost(path) == []


def _purchase_model_becomes(monkeypatch: pytest.MonkeyPatch, **changes: object) -> Path:
    spec = REGISTRY[("subscription.purchase", 1)]
    fields = {n: (f.annotation, f) for n, f in spec.model.model_fields.items() if changes.get(n, ...) is not None}
    fields.update({n: c for n, c in changes.items() if c is not None})
    changed = create_model("Purchase", __base__=Data, **fields)  # type: ignore[call-overload]
    monkeypatch.setitem(REGISTRY, ("subscription.purchase", 1), dataclasses.replace(spec, model=changed))
    return path_of("subscription.purchase", 1)


def test_renaming_an_optional_field_fails_though_the_old_name_is_silently_ignored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sample = _purchase_model_becomes(monkeypatch, auto_renew=None, renew_automatically=(bool, True))
    assert lost(sample) == ["envelope.data.auto_renew: dropped"]


def test_adding_a_required_field_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    sample = _purchase_model_becomes(monkeypatch, purchase_order=(str, ...))
    with pytest.raises(PoisonError, match="purchase_order"):
        lost(sample)


def test_narrowing_a_type_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    sample = _purchase_model_becomes(monkeypatch, quantity=(int, Field(le=10)))  # the sample buys 25 seats
    with pytest.raises(PoisonError, match="quantity"):
        lost(sample)

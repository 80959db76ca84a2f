"""Signed commands: what authenticates a command record, and every way one fails to, with its reason."""
import hashlib
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contracts.envelope import Actor
from shared.messaging.decode import PoisonError, Record, decode
from shared.messaging.signing import HEADER, Signer, Verifier
from tests.kafka import command

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEY = "k" * 40
P1_ADMIN = Actor(partner_id="P1", roles=["AdminAgent"])
PARTNER = {"partner_id": "P1", "name": "Contoso", "billing_currency": "USD", "country": "US"}
TOPIC = "nce.subscription.commands"


def verifier(keys: dict[str, str] | None = None) -> Verifier:
    return Verifier({"crm": KEY} if keys is None else keys, lambda: NOW)


def record(value: bytes, headers: list[tuple[str, bytes]], at: datetime = NOW) -> Record:
    return Record(TOPIC, 0, 7, b"P1", value, tuple(headers), int(at.timestamp() * 1000))


def signed(actor: Actor | None = P1_ADMIN, signer: Signer | None = None, at: datetime = NOW,
           value: bytes | None = None) -> Record:
    value = value or command("partner.register", PARTNER, actor=actor)
    return record(value, [(signer or Signer("crm", KEY)).header(value, actor, at)], at)


def reason(r: Record, v: Verifier | None = None) -> str:
    with pytest.raises(PoisonError) as refused:
        decode(r, 100_000, v or verifier())
    assert refused.value.code == "UNAUTHENTICATED"
    assert not refused.value.claims_id  # parking it must not burn the envelope's id for a genuine command
    return refused.value.reason


def test_a_command_signed_by_a_known_issuer_for_its_own_actor_decodes() -> None:
    assert decode(signed(), 100_000, verifier()) is not None


def test_ed25519_signed_commands_verify_with_the_public_key_alone() -> None:
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert decode(signed(signer=Signer("crm", private_pem)), 100_000, verifier({"crm": public_pem})) is not None
    other = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode()
    assert "forged" in reason(signed(signer=Signer("crm", other)), verifier({"crm": public_pem}))


def test_unsigned_commands_are_refused() -> None:
    assert "unsigned" in reason(record(command("partner.register", PARTNER, actor=P1_ADMIN), []))


def test_a_service_without_keys_accepts_no_command() -> None:
    assert "no command keys" in reason(signed(), verifier({}))


def test_a_token_signed_with_another_key_is_forged() -> None:
    assert "forged" in reason(signed(signer=Signer("crm", "x" * 40)))


def test_an_unknown_issuer_is_refused() -> None:
    assert "unknown issuer 'erp'" in reason(signed(signer=Signer("erp", KEY)))


def test_a_token_lifted_onto_another_command_is_refused() -> None:
    genuine = signed()
    other = command("partner.register", {**PARTNER, "name": "Evil"}, actor=P1_ADMIN)
    assert "signs another message" in reason(record(other, list(genuine.headers)))


def test_an_actor_other_than_the_signed_one_is_refused() -> None:
    value = command("partner.register", PARTNER, actor=Actor(partner_id="P2", roles=["AdminAgent"]))
    lying = record(value, [Signer("crm", KEY).header(value, P1_ADMIN, NOW)])
    assert "actor differs" in reason(lying)


def test_expiry_is_judged_when_the_broker_took_the_record_not_when_it_is_consumed() -> None:
    issued = NOW - timedelta(hours=3)
    late_consumed = signed(at=issued)  # published in time, consumed three hours later (a backlog): still good
    assert decode(late_consumed, 100_000, verifier()) is not None
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    stale = record(value, [Signer("crm", KEY).header(value, P1_ADMIN, issued)], at=NOW)  # published too late
    assert "expired" in reason(stale)


def test_records_stamped_in_the_future_and_long_lived_tokens_are_refused() -> None:
    assert "future" in reason(signed(at=NOW + timedelta(minutes=5)))
    long_lived = Signer("crm", KEY, ttl=timedelta(days=1))
    assert "longer than" in reason(signed(signer=long_lived))


@pytest.mark.parametrize("header, why", [
    (b"Basic abc", "not 'Bearer"),
    (b"Bearer not.a.jwt", "malformed token"),
])
def test_damaged_headers_are_refused(header: bytes, why: str) -> None:
    assert why in reason(record(command("partner.register", PARTNER, actor=P1_ADMIN), [(HEADER, header)]))


def test_an_unsigned_alg_none_token_is_refused() -> None:
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    claims = {"iss": "crm", "iat": NOW, "exp": NOW + timedelta(minutes=1), "partner_id": "P1",
              "roles": ["AdminAgent"], "sha256": hashlib.sha256(value).hexdigest()}
    none = jwt.encode(claims, None, algorithm="none")
    assert "forged" in reason(record(value, [(HEADER, f"Bearer {none}".encode())]))


def test_short_hmac_secrets_are_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Verifier({"crm": "short"}, lambda: NOW)
    with pytest.raises(ValueError, match="at least 32"):
        Signer("crm", "short")


def test_a_scoped_issuer_signs_only_for_its_own_partners_and_never_as_the_operator() -> None:
    scoped = Verifier({"crm": KEY, "p1-crm": KEY.upper()}, lambda: NOW, scopes={"p1-crm": ["P1"]})
    p1_system = Signer("p1-crm", KEY.upper())
    assert decode(signed(signer=p1_system), 100_000, scoped) is not None
    p2 = Actor(partner_id="P2", roles=["AdminAgent"])
    assert "may sign only for partners P1, not for P2" in reason(signed(p2, signer=p1_system), scoped)
    operator = Actor(partner_id=None, roles=["GlobalAdmin"])
    assert "not for the operator" in reason(signed(operator, signer=p1_system), scoped)
    assert decode(signed(p2), 100_000, scoped) is not None  # an issuer with no scope: the platform's own systems


def test_a_signed_actor_of_the_wrong_shape_is_unauthenticated_not_a_crash() -> None:
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    for actor in ({"partner_id": 5, "roles": ["AdminAgent"]}, {"partner_id": "P1", "roles": "AdminAgent"}):
        claims = {"iss": "crm", "iat": NOW, "exp": NOW + timedelta(minutes=5), **actor,
                  "sha256": hashlib.sha256(value).hexdigest()}
        token = jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": "crm"})
        assert "must be a string or null" in reason(record(value, [(HEADER, f"Bearer {token}".encode())]))


def test_events_need_no_signature() -> None:
    event = Record("nce.subscription.events", 0, 0, None, command("partner.registered", PARTNER, actor=None))
    assert decode(event, 100_000, verifier()) is not None  # an internal fact from the outbox: no token asked



def test_authentication_comes_before_the_type_or_data_are_looked_at() -> None:
    for value in (command("subscription.teleport", {}, actor=P1_ADMIN),
                  command("partner.register", {"partner_id": 5}, actor=P1_ADMIN)):
        assert "unsigned" in reason(record(value, []))  # not UNKNOWN_COMMAND/INVALID_COMMAND, which claim the id


def test_a_plain_hs256_token_names_its_issuer_as_kid_and_is_checked_without_pyjwt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    r = signed()
    token = dict(r.headers)[HEADER].decode().removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "crm"
    decodes = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **kw: decodes.append(kw.get("options")) or real(*a, **kw))
    assert decode(r, 100_000, verifier()) is not None
    assert decodes == []  # the key picked by kid, the HMAC checked directly
    assert "forged" in reason(signed(signer=Signer("crm", "x" * 40)))  # and a wrong key's signature still fails


@pytest.mark.parametrize("extra, why", [({"nbf": NOW + timedelta(days=3650)}, "not yet valid"),
                                        ({"aud": "someone-else"}, "audience")])
def test_claims_a_signer_never_writes_are_judged_by_pyjwt(extra: dict, why: str) -> None:  # type: ignore[type-arg]
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    claims = {"iss": "crm", "iat": NOW, "exp": NOW + timedelta(minutes=5), "partner_id": "P1",
              "roles": ["AdminAgent"], "sha256": hashlib.sha256(value).hexdigest(), **extra}
    token = jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": "crm"})
    assert why in reason(record(value, [(HEADER, f"Bearer {token}".encode())]))


def test_tokens_without_kid_or_with_a_foreign_kid_are_still_verified_by_their_iss() -> None:
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    claims = {"iss": "crm", "iat": NOW, "exp": NOW + timedelta(minutes=5), "partner_id": "P1",
              "roles": ["AdminAgent"], "sha256": hashlib.sha256(value).hexdigest()}
    for headers in (None, {"kid": "crm-2026-key"}):
        token = jwt.encode(claims, KEY, algorithm="HS256", headers=headers)
        assert decode(record(value, [(HEADER, f"Bearer {token}".encode())]), 100_000, verifier()) is not None


def test_a_token_whose_kid_and_iss_name_different_issuers_is_refused() -> None:
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    claims = {"iss": "erp", "iat": NOW, "exp": NOW + timedelta(minutes=5), "partner_id": "P1",
              "roles": ["AdminAgent"], "sha256": hashlib.sha256(value).hexdigest()}
    token = jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": "crm"})  # crm's key, claiming to be erp
    lying = record(value, [(HEADER, f"Bearer {token}".encode())])
    assert "iss is 'erp'" in reason(lying, verifier({"crm": KEY, "erp": "e" * 40}))


def test_a_signers_hs256_token_is_the_standard_jwt_pyjwt_writes_for_the_same_claims() -> None:
    value = command("partner.register", PARTNER, actor=P1_ADMIN)
    token = Signer("crm", KEY).header(value, P1_ADMIN, NOW)[1].decode().removeprefix("Bearer ")
    claims = {"iss": "crm", "iat": NOW, "exp": NOW + timedelta(minutes=5), "partner_id": "P1",
              "roles": ["AdminAgent"], "sha256": hashlib.sha256(value).hexdigest()}
    assert token == jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": "crm"})


def test_commands_topics_are_created_stamped_by_the_broker_so_a_publisher_cannot_back_date_a_token() -> None:
    from shared.messaging.kafka import topic_config

    assert topic_config("nce.subscription.commands") == {"message.timestamp.type": "LogAppendTime"}
    assert topic_config("nce.subscription.events") == topic_config("nce.subscription.commands.dlq") == {}

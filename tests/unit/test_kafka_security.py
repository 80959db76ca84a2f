"""Managed Kafka: TLS and SASL settings are validated at start and reach every client the same way."""
import ssl

import certifi
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.cli import app
from shared.messaging.kafka import connection, make_admin, make_broker, make_producer
from shared.settings import KafkaSettings, ServiceSettings

BASE = {"service": "billing", "kafka_bootstrap": "kafka.example:9093",
        "database_url": "postgresql://nce:s3cret-9x@db/nce"}
SASL_SSL = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "nce", "kafka_sasl_password": "k4fka-s3cret"}
SECURITY_ARGS = ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")


def test_plaintext_is_the_default_and_adds_no_tls_or_sasl() -> None:
    args = connection(ServiceSettings(**BASE))
    assert args == {"bootstrap_servers": ["kafka.example:9093"], "security_protocol": "PLAINTEXT"}


def test_a_sasl_protocol_without_mechanism_user_and_password_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="SASL_SSL needs NCE_KAFKA_SASL_USERNAME, NCE_KAFKA_SASL_PASS"):
        ServiceSettings(**BASE, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN")
    with pytest.raises(ValidationError, match="NCE_KAFKA_SASL_MECHANISM"):
        KafkaSettings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_PLAINTEXT",
                      kafka_sasl_username="u", kafka_sasl_password="p")


def test_sasl_credentials_or_a_ca_file_without_a_protocol_that_uses_them_are_refused() -> None:
    with pytest.raises(ValidationError, match="uses no SASL"):
        ServiceSettings(**BASE, kafka_sasl_username="nce", kafka_sasl_password="p")
    with pytest.raises(ValidationError, match="uses no TLS"):
        ServiceSettings(**BASE, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                        kafka_sasl_username="nce", kafka_sasl_password="p", kafka_ssl_cafile=certifi.where())


def test_an_unknown_mechanism_or_a_missing_ca_file_is_refused() -> None:
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        ServiceSettings(**{**BASE, **SASL_SSL, "kafka_sasl_mechanism": "GSSAPI"})
    with pytest.raises(ValidationError, match="kafka_ssl_cafile"):
        ServiceSettings(**BASE, **SASL_SSL, kafka_ssl_cafile="/nonexistent/ca.pem")


def test_sasl_settings_come_from_the_environment_password_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SASL_SSL.items():
        monkeypatch.setenv(f"NCE_{name.upper()}", value)
    s = KafkaSettings(kafka_bootstrap="k:9093")
    assert s.kafka_security_protocol == "SASL_SSL" and "k4fka-s3cret" not in repr(s)


def test_sasl_ssl_gives_aiokafka_a_tls_context_from_the_ca_file_and_the_credentials() -> None:
    args = connection(ServiceSettings(**BASE, **SASL_SSL, kafka_ssl_cafile=certifi.where()))
    assert [args[k] for k in SECURITY_ARGS] == ["SASL_SSL", "SCRAM-SHA-512", "nce", "k4fka-s3cret"]
    context = args["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.cert_store_stats()["x509_ca"] > 0


def test_ssl_alone_verifies_against_the_system_cas() -> None:
    args = connection(ServiceSettings(**BASE, kafka_security_protocol="SSL"))
    assert args["security_protocol"] == "SSL" and args["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in args


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
async def test_producer_admin_and_faststream_broker_carry_the_security(protocol: str, mechanism: str) -> None:
    s = ServiceSettings(**BASE, **SASL_SSL | {"kafka_security_protocol": protocol, "kafka_sasl_mechanism": mechanism})
    wanted = [protocol, mechanism, "nce", "k4fka-s3cret"]
    producer, admin, broker = make_producer(s), make_admin(s, "test"), make_broker(s)
    try:
        for client in (producer.client, admin._client):
            assert [client._security_protocol, client._sasl_mechanism, client._sasl_plain_username,
                    client._sasl_plain_password] == wanted
            assert (client._ssl_context is not None) == (protocol == "SASL_SSL")
        # FastStream hands these to the consumers it builds and to its own producer
        for kwargs in (broker.config.broker_config.builder.keywords, broker._connection_kwargs):
            assert [kwargs[k] for k in SECURITY_ARGS] == wanted
            assert (kwargs["ssl_context"] is not None) == (protocol == "SASL_SSL")
    finally:
        await producer.stop()
        await admin.close()


def test_nce_topics_refuses_incomplete_sasl_settings_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    result = CliRunner().invoke(app, ["topics", "--kafka", "kafka.example:9093"])
    assert result.exit_code == 2 and "needs NCE_KAFKA_SASL_MECHANISM" in result.output


async def test_every_broker_of_a_bootstrap_list_reaches_every_client_as_its_own_host() -> None:
    s = ServiceSettings(**BASE | {"kafka_bootstrap": "b-1.example:9096, b-2.example:9096,b-3.example:9096"})
    hosts = ["b-1.example:9096", "b-2.example:9096", "b-3.example:9096"]
    producer, broker = make_producer(s), make_broker(s)
    try:
        assert producer.client._bootstrap_servers == hosts
        assert broker.config.broker_config.builder.keywords["bootstrap_servers"] == hosts
    finally:
        await producer.stop()

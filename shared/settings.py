"""Typed settings shared by every service: read once from `NCE_*` variables and validated at start."""
from typing import Literal

from pydantic import AwareDatetime, Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("catalog", "pricing", "subscription", "billing", "scheduler")
DEFAULT_PORTS = {"catalog": 8101, "pricing": 8102, "subscription": 8103, "billing": 8104, "scheduler": 8105}
_PLACEHOLDER_SECRETS = {"changethis", "changeme", "secret", "password"}
_NCE = SettingsConfigDict(env_prefix="NCE_", extra="ignore")


class KafkaSettings(BaseSettings):
    """Where the broker is and how to reach it: all `nce` needs to create topics or send commands."""

    model_config = _NCE

    kafka_bootstrap: str
    kafka_partitions: int = Field(4, ge=1)
    kafka_replication_factor: int = Field(1, ge=1)  # of the topics nce creates; 3 on a managed cluster
    # Managed Kafka: TLS (SSL), SASL, or both (SASL_SSL); the CA file is needed only for a private CA.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: FilePath | None = None

    @model_validator(mode="after")
    def _sasl_complete(self) -> "KafkaSettings":
        protocol = f"NCE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
        sasl = {"NCE_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
                "NCE_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
                "NCE_KAFKA_SASL_PASSWORD": self.kafka_sasl_password}
        if self.kafka_security_protocol.startswith("SASL_"):
            if missing := [name for name, value in sasl.items() if not value]:
                raise ValueError(f"{protocol} needs {', '.join(missing)}")
        elif given := [name for name, value in sasl.items() if value]:
            raise ValueError(f"{', '.join(given)} given, but {protocol} uses no SASL")
        if self.kafka_ssl_cafile and self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(f"NCE_KAFKA_SSL_CAFILE given, but {protocol} uses no TLS; set SSL or SASL_SSL")
        return self


class TokenSettings(BaseSettings):
    """Bearer tokens for HTTP reads, never defaulted: without any, reads answer 401. Partner tokens are JSON
    {"partner_id": "token", ...}; each sees only its own partner's data."""

    model_config = _NCE

    operator_token: SecretStr | None = None
    partner_tokens: dict[str, SecretStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _strong_tokens(self) -> "TokenSettings":
        tokens = [*self.partner_tokens.values(), *([self.operator_token] if self.operator_token else [])]
        values = [t.get_secret_value() for t in tokens]
        if any(len(v) < 16 for v in values):
            raise ValueError("bearer tokens (NCE_OPERATOR_TOKEN, NCE_PARTNER_TOKENS) need at least 16 characters")
        if len(set(values)) != len(values):
            raise ValueError("each bearer token must be different (one token, one reader)")
        return self


class CommandKeySettings(BaseSettings):
    """Signed commands (shared/messaging/signing.py). The services verify with `command_keys`, JSON
    {"issuer": "HS256 secret (32+ characters) or Ed25519 public key PEM"}, never defaulted: without any, every command
    is refused as unauthenticated. A publishing system such as `nce send` signs as `command_issuer` with
    `command_signing_key` (the HS256 secret, or its Ed25519 private key PEM). `command_scopes`, JSON
    {"issuer": ["partner id", …]}, confines an issuer to acting for those partners (never as the operator): give one
    to each partner's own system; an issuer not in it signs for any actor (the platform's own systems)."""

    model_config = _NCE

    command_keys: dict[str, SecretStr] = Field(default_factory=dict)
    command_scopes: dict[str, list[str]] = Field(default_factory=dict)
    command_issuer: str = "nce-cli"
    command_signing_key: SecretStr | None = None

    @model_validator(mode="after")
    def _usable_keys(self) -> "CommandKeySettings":
        from shared.messaging.signing import check_keys

        check_keys({i: k.get_secret_value() for i, k in self.command_keys.items()})
        if unknown := set(self.command_scopes) - set(self.command_keys):
            raise ValueError(f"NCE_COMMAND_SCOPES names issuers with no key in NCE_COMMAND_KEYS: {sorted(unknown)}")
        if self.command_signing_key:
            check_keys({self.command_issuer: self.command_signing_key.get_secret_value()})
        return self

    def verification_keys(self) -> dict[str, str]:
        return {issuer: key.get_secret_value() for issuer, key in self.command_keys.items()}


class ObservabilitySettings(BaseSettings):
    """How a process logs and traces; read by every service and by the CLI commands that publish (`nce send`)."""

    model_config = _NCE

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = False  # one line per HTTP request (uvicorn's), through the same formatter
    otel_endpoint: str | None = None  # OTLP/HTTP base URL, e.g. http://collector:4318; unset: no tracing at all
    otel_console: bool = False  # spans printed to stderr as well (a quick look without a collector)
    # Consumer lag is measured when /metrics is scraped (a marker per partition), at most this often.
    lag_min_interval_s: float = Field(10.0, ge=0)

    @property
    def tracing(self) -> bool:
        return bool(self.otel_endpoint) or self.otel_console


class ServiceSettings(KafkaSettings, TokenSettings, CommandKeySettings, ObservabilitySettings):
    service: str = ""
    database_url: SecretStr
    http_host: str = "127.0.0.1"
    http_port: int = 0
    # Apache Kafka wants the defaults; Tansu needs short group timeouts and no idempotent producer.
    kafka_enable_idempotence: bool = True
    kafka_session_timeout_ms: int = Field(10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(3_000, ge=100)
    kafka_linger_ms: int = Field(5, ge=0)
    # How long the broker may hold a fetch when no data is there. Apache Kafka answers as soon as data arrives;
    # Tansu only at half or all of this wait, so it gets a short one (shared/infra.py).
    kafka_fetch_max_wait_ms: int = Field(500, ge=1)
    consumer_max_records: int = Field(200, ge=1)
    # Least time between the starts of two fetched batches unless a batch was full (a backlog is read at full speed),
    # for a consumer that reads commands (someone awaits their outcome), and for one that reads only events (facts
    # nobody awaits). 0 on Apache Kafka; 40 and 200 on Tansu, where fewer, larger batches cost less (shared/infra.py).
    consumer_pace_ms: int = Field(0, ge=0)
    event_pace_ms: int = Field(0, ge=0)
    max_message_bytes: int = Field(1_000_000, ge=1_024)
    db_pool_max: int = Field(8, ge=2)
    clock: Literal["system", "simulated"] = "system"
    clock_start: AwareDatetime | None = None
    retry_max_backoff_s: float = Field(5.0, gt=0)
    # Test-only fault injection: SIGKILL this process right after committing the message with this id.
    fault_kill_after_commit: str | None = None

    @field_validator("database_url")
    @classmethod
    def _no_placeholder_password(cls, url: SecretStr) -> SecretStr:
        from urllib.parse import urlsplit

        password = urlsplit(url.get_secret_value()).password
        if password and password.lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("NCE_DATABASE_URL carries a placeholder password; set a real secret")
        return url

    @model_validator(mode="after")
    def _complete(self) -> "ServiceSettings":
        if self.service and self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}; expected one of {', '.join(SERVICES)}")
        if self.service and not self.http_port:
            self.http_port = DEFAULT_PORTS[self.service]
        if self.clock == "simulated" and self.clock_start is None:
            raise ValueError("NCE_CLOCK=simulated needs NCE_CLOCK_START (an aware UTC instant)")
        return self

    @property
    def schema(self) -> str:
        return self.service

    @property
    def group_id(self) -> str:
        return f"nce.{self.service}"

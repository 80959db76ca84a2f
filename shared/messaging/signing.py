"""Signed commands: each command record carries a JWT in its `authorization` header, checked by the consumer kernel.

The token is issued by a publishing system whose key the services know (`NCE_COMMAND_KEYS`: issuer → an HMAC secret
for HS256, or an Ed25519 public key in PEM for EdDSA). Its claims:
- `iss`: the publishing system (selects the key); `iat`, `exp`: when it was issued and until when it is good;
- `partner_id` (null for the platform operator) and `roles`: the actor, which must equal the envelope's `actor`;
- `sha256`: the hex SHA-256 of the record's value, so a token signs one exact command and cannot be lifted onto
  another (re-sending the same bytes is a duplicate the inbox absorbs).
The token's header names the issuer as its `kid`, so the verifier picks the key from the header and decodes the token
once; a token whose header has no `kid` naming a known issuer (issued before `kid` was added, or by a system that sets
no kid or its own key ids) is still accepted, its key found from its unverified `iss` at the cost of a second decode.
Either way the verified `iss` must name the issuer whose key checked the signature. An issuer given a scope
(`NCE_COMMAND_SCOPES`) signs only for the partners in it, so one partner's system cannot act as another or as the
operator.
Expiry is judged at the instant the broker took the record (its timestamp), so a command queued behind a long outage
is still good; a record stamped in the future beyond the leeway is refused. Times are wall-clock, never the simulated
clock: tokens live in the real world.
"""
import base64
import calendar
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import jwt
from pydantic import ValidationError

from shared.contracts.envelope import Actor, Envelope

HEADER = "authorization"
_HMAC_MIN = 32  # characters of an HS256 secret
LEEWAY = timedelta(seconds=30)


class Unauthenticated(Exception):
    """Why a command's token does not authenticate it."""


def _is_pem(key: str) -> bool:
    return key.lstrip().startswith("-----BEGIN")


def check_keys(keys: dict[str, str]) -> None:
    for issuer, key in keys.items():
        if not _is_pem(key) and len(key) < _HMAC_MIN:
            raise ValueError(f"command key of {issuer!r}: an HS256 secret needs at least {_HMAC_MIN} characters")


def digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


class Signer:
    """What a publishing system uses: its issuer name and its key (an HMAC secret, or an Ed25519 private key PEM)."""

    def __init__(self, issuer: str, key: str, ttl: timedelta = timedelta(minutes=5)) -> None:
        check_keys({issuer: key})
        self.issuer, self.key, self.ttl = issuer, key, ttl
        self.algorithm = "EdDSA" if _is_pem(key) else "HS256"
        self._hs256_header = _b64url(_compact({"alg": "HS256", "kid": issuer, "typ": "JWT"}))
        self._secret = key.encode()

    def header(self, value: bytes, actor: Actor | None, now: datetime) -> tuple[str, bytes]:
        actor = actor or Actor()
        claims = {"iss": self.issuer, "iat": now, "exp": now + self.ttl, "partner_id": actor.partner_id,
                  "roles": list(actor.roles), "sha256": digest(value)}
        if self.algorithm == "HS256":  # the plain token PyJWT would write, without preparing the key every time
            token = self._hs256(claims)
        else:
            token = jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.issuer})
        return HEADER, f"Bearer {token}".encode()

    def _hs256(self, claims: dict) -> str:  # type: ignore[type-arg]
        payload = _compact({**claims, "iat": _seconds(claims["iat"]), "exp": _seconds(claims["exp"])})
        signing_input = f"{self._hs256_header}.{_b64url(payload)}"
        return f"{signing_input}.{_b64url(_hs256_mac(self._secret, signing_input))}"


def _hs256_mac(secret: bytes, signing_input: str) -> bytes:
    """An HS256 token's signature: HMAC-SHA256 of `header.payload` (both base64url) under the secret."""
    return hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()


def _compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _seconds(at: datetime) -> int:
    """A JWT NumericDate, as PyJWT writes one for a datetime (whole seconds since the epoch)."""
    return calendar.timegm(at.utctimetuple())


def _b64(segment: str) -> bytes:
    """A base64url segment of a token (JWT drops the padding)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64json(segment: str) -> object:
    return json.loads(_b64(segment))


def _kid(token: str) -> str | None:
    """The `kid` of the token's header, unverified (it only picks the key the signature is then checked with); None
    when absent or unreadable (the decodes after say what is wrong)."""
    try:
        header = _b64json(token.split(".", 1)[0])
    except ValueError:  # bad base64, not JSON, not UTF-8
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


_PLAIN_HEADER = frozenset({"alg", "typ", "kid"})
_PLAIN_CLAIMS = frozenset({"iss", "iat", "exp", "partner_id", "roles", "sha256"})
_REQUIRED = ("iss", "iat", "exp", "sha256")


def _hs256_claims(token: str, secret: str) -> dict | None:  # type: ignore[type-arg]
    """The claims of a plain HS256 token that `secret` signed: a header of alg/typ/kid only and exactly the claims a
    Signer writes (so no `nbf`, `aud` or other claim PyJWT would judge). Checked here without PyJWT, which prepares
    the key again for every token (a tenth of the subscription service's CPU); None for any other token, which PyJWT
    then decodes and says what is wrong with."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header, claims = _b64json(header_b64), _b64json(payload_b64)
        signature = _b64(signature_b64)
    except ValueError:  # not three segments, bad base64, not JSON, not UTF-8
        return None
    if not (isinstance(header, dict) and header.get("alg") == "HS256" and header.keys() <= _PLAIN_HEADER
            and isinstance(claims, dict) and claims.keys() <= _PLAIN_CLAIMS and all(c in claims for c in _REQUIRED)):
        return None
    expected = _hs256_mac(secret.encode(), f"{header_b64}.{payload_b64}")
    return claims if hmac.compare_digest(expected, signature) else None


class Verifier:
    """What the services use: every issuer's verification key, and the wall clock."""

    def __init__(self, keys: dict[str, str], now: Callable[[], datetime],
                 max_lifetime: timedelta = timedelta(hours=1), scopes: dict[str, list[str]] | None = None) -> None:
        check_keys(keys)
        self.keys, self.now, self.max_lifetime = keys, now, max_lifetime
        self.scopes = {issuer: frozenset(partners) for issuer, partners in (scopes or {}).items()}

    def verify(self, value: bytes, headers: tuple[tuple[str, bytes], ...], timestamp: datetime,
               envelope: Envelope) -> None:
        """Return when the record is a command its token authenticates; else raise Unauthenticated with why."""
        if not self.keys:
            raise Unauthenticated("this service has no command keys (NCE_COMMAND_KEYS), so it can accept no command")
        tokens = [v for k, v in headers if k.lower() == HEADER]
        if len(tokens) != 1:
            raise Unauthenticated("unsigned: no authorization header" if not tokens else
                                  "more than one authorization header")
        raw = tokens[0].decode("utf-8", "replace")
        if not raw.startswith("Bearer "):
            raise Unauthenticated("the authorization header is not 'Bearer <token>'")
        token = raw.removeprefix("Bearer ").strip()
        issuer = _kid(token)
        if issuer not in self.keys:  # no kid, or one naming no issuer (another system's key id): the unverified iss
            try:
                issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            except jwt.PyJWTError as e:
                raise Unauthenticated(f"malformed token: {e}") from None
        key = self.keys.get(issuer) if isinstance(issuer, str) else None
        if key is None:
            raise Unauthenticated(f"unknown issuer {issuer!r}: no key for it in NCE_COMMAND_KEYS")
        claims = None if _is_pem(key) else _hs256_claims(token, key)
        if claims is None:
            try:
                claims = jwt.decode(token, key, algorithms=["EdDSA" if _is_pem(key) else "HS256"],
                                    options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False})
            except jwt.PyJWTError as e:
                raise Unauthenticated(f"forged or damaged token from {issuer!r}: {e}") from None
        if claims["iss"] != issuer:
            raise Unauthenticated(f"the token's key is {issuer!r}'s but its iss is {claims['iss']!r}")
        self._check_times(claims, timestamp)
        if claims["sha256"] != digest(value):
            raise Unauthenticated("the token signs another message (sha256 of the record differs)")
        try:
            signed = Actor(partner_id=claims.get("partner_id"), roles=claims.get("roles") or [])
        except ValidationError:
            raise Unauthenticated("the token's partner_id must be a string or null and its roles a list of strings"
                                  ) from None
        scope = self.scopes.get(issuer)
        if scope is not None and signed.partner_id not in scope:  # the operator has none: never in a scope
            raise Unauthenticated(f"issuer {issuer!r} may sign only for partners {', '.join(sorted(scope))}, not "
                                  f"for {signed.partner_id or 'the operator'} (NCE_COMMAND_SCOPES)")
        if (envelope.actor or Actor()) != signed:
            raise Unauthenticated(f"the envelope's actor differs from the signed one ({signed.model_dump_json()})")

    def _check_times(self, claims: dict, at: datetime) -> None:  # type: ignore[type-arg]
        try:
            issued, expires = (datetime.fromtimestamp(float(claims[c]), at.tzinfo) for c in ("iat", "exp"))
        except (TypeError, ValueError, OverflowError):
            raise Unauthenticated("iat and exp must be numeric dates") from None
        if expires - issued > self.max_lifetime:
            raise Unauthenticated(f"token lives longer than {self.max_lifetime}; issue short-lived ones")
        if at > self.now() + LEEWAY:
            raise Unauthenticated(f"record stamped in the future ({at.isoformat()})")
        if not issued - LEEWAY <= at <= expires + LEEWAY:
            raise Unauthenticated(f"expired: the token was good from {issued.isoformat()} to {expires.isoformat()},"
                                  f" the record was published at {at.isoformat()}")

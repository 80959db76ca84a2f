"""Bearer tokens: who a token is, and the settings that refuse weak or shared tokens."""
import pytest
from pydantic import ValidationError

from shared.auth import Reader, Tokens
from shared.settings import TokenSettings

OPERATOR, P1 = "operator-token-0123456789", "partner-one-token-012345"


def tokens() -> Tokens:
    return Tokens(TokenSettings(operator_token=OPERATOR, partner_tokens={"P1": P1}))


def test_the_operator_and_a_partner_are_told_apart() -> None:
    assert tokens().reader(f"Bearer {OPERATOR}") == Reader(None)
    assert tokens().reader(f"bearer {P1}") == Reader("P1")
    assert tokens().reader(f"Bearer {P1}").operator is False


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", f"Basic {OPERATOR}", f"Bearer {OPERATOR}x",
                                    f"Bearer {OPERATOR[:-1]}", OPERATOR])
def test_anything_else_is_nobody(header: str | None) -> None:
    assert tokens().reader(header) is None


def test_without_configured_tokens_nobody_reads() -> None:
    assert Tokens(TokenSettings(operator_token=None, partner_tokens={})).reader("Bearer anything-at-all-123") is None


def test_short_or_shared_tokens_are_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        TokenSettings(operator_token="short")
    with pytest.raises(ValidationError, match="must be different"):
        TokenSettings(operator_token=OPERATOR, partner_tokens={"P1": OPERATOR})


def test_partner_tokens_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCE_PARTNER_TOKENS", '{"P1": "%s"}' % P1)
    monkeypatch.delenv("NCE_OPERATOR_TOKEN", raising=False)
    assert Tokens(TokenSettings()).reader(f"Bearer {P1}") == Reader("P1")

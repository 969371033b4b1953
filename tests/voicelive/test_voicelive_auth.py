"""Entra ID for Voice Live: a bearer token from an injected credential, cached and renewed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.observability.logs import SCRUBBER
from bot.voicelive.auth import SCOPE, TokenProvider
from bot.voicelive.client import VoiceLiveUnavailable, open_session
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import make_settings
from tests.support.bridge import bridge


@dataclass
class Token:
    token: str
    expires_on: int


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeCredential:
    """Issues tok-1, tok-2, … each valid for `lifetime_s` on `clock`; remembers the scopes."""

    def __init__(self, clock: Clock, lifetime_s: int = 3600, fail: bool = False) -> None:
        self.clock = clock
        self.lifetime_s = lifetime_s
        self.fail = fail
        self.issued: dict[str, int] = {}
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.scopes.append(scopes)
        if self.fail:
            raise RuntimeError("ManagedIdentityCredential: no identity endpoint")
        token = Token(f"tok-{len(self.issued) + 1}", int(self.clock() + self.lifetime_s))
        token.token += "." + "x" * 24  # long enough to be a secret the log scrubber hides
        self.issued[token.token] = token.expires_on
        return token

    def valid(self, token: str) -> bool:
        """What the service checks: a token we issued that has not expired."""
        return token in self.issued and self.issued[token] > self.clock()

    async def close(self) -> None:
        self.closed = True


def tok(n: int) -> str:
    return f"tok-{n}." + "x" * 24


def bearer(fake: FakeVoiceLive, n: int) -> str:
    return fake.handshakes[n].headers.get("Authorization", "")


async def test_a_call_authenticates_with_a_bearer_token_and_no_api_key(tmp_path: Path) -> None:
    clock = Clock()
    credential = FakeCredential(clock)
    fake = FakeVoiceLive(api_key=None, bearer_token_check=credential.valid)
    async with bridge(tmp_path, fake, credential=credential, VOICE_LIVE_API_KEY="") as b:
        call = await b.call()
        session = await fake.wait_for_session(1)
        await call.wait_for(lambda: call.played_ms() >= 500, timeout=5)
        await call.hangup()
    token = session.headers.get("Authorization", "").removeprefix("Bearer ")
    assert token.startswith("tok-1.")
    assert "api-key" not in session.headers
    assert credential.scopes == [(SCOPE,)] and SCOPE == "https://ai.azure.com/.default"
    assert credential.closed  # closed with the service


async def test_the_token_is_cached_then_renewed_before_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    credential = FakeCredential(clock, lifetime_s=3600)
    tokens = TokenProvider(credential, clock=clock)
    settings = make_settings(tmp=tmp_path, VOICE_LIVE_API_KEY="")
    async with FakeVoiceLive(api_key=None, bearer_token_check=credential.valid) as fake:

        async def reconnect() -> None:
            conn = await open_session(settings, fake.endpoint, None, {}, tokens)
            await conn.close()

        await reconnect()
        clock.now += 1800  # half-way: the cached token is reused
        await reconnect()
        assert [bearer(fake, i) for i in range(2)] == [f"Bearer {tok(1)}"] * 2
        assert len(credential.issued) == 1

        clock.now += 1800 - 120  # minute 58: tok-1 has two minutes left, inside the margin
        await reconnect()
        clock.now += 600  # tok-1 has expired; the service refuses it from now on
        assert not credential.valid(tok(1))
        await reconnect()  # a reconnect late in a long interview still authenticates
        assert [h.status for h in fake.handshakes] == [101] * 4
        assert bearer(fake, 2) == bearer(fake, 3) == f"Bearer {tok(2)}"
        # The log scrubber looks for the live token only: renewals do not grow its list.
        assert tok(2) in SCRUBBER.secrets and tok(1) not in SCRUBBER.secrets


async def test_an_expired_token_would_be_refused_so_the_check_is_real(tmp_path: Path) -> None:
    clock = Clock()
    credential = FakeCredential(clock)
    tokens = TokenProvider(credential, clock=clock, refresh_margin_s=-10_000)  # never renews
    settings = make_settings(tmp=tmp_path, VOICE_LIVE_API_KEY="")
    async with FakeVoiceLive(api_key=None, bearer_token_check=credential.valid) as fake:
        await (await open_session(settings, fake.endpoint, None, {}, tokens)).close()
        clock.now += 3700
        with pytest.raises(VoiceLiveUnavailable, match="HTTP 401") as refused:
            await open_session(settings, fake.endpoint, None, {}, tokens)
        assert not refused.value.retryable


async def test_no_token_means_voice_live_unavailable_with_the_reason(tmp_path: Path) -> None:
    credential = FakeCredential(Clock(), fail=True)
    tokens = TokenProvider(credential)
    settings = make_settings(tmp=tmp_path, VOICE_LIVE_API_KEY="")
    async with FakeVoiceLive(api_key=None, bearer_token_check=credential.valid) as fake:
        with pytest.raises(VoiceLiveUnavailable, match=r"no Entra ID token.*no identity endpoint"):
            await open_session(settings, fake.endpoint, None, {}, tokens)
        assert fake.handshakes == []


def test_the_default_credential_is_azure_identitys() -> None:
    pytest.importorskip("azure.identity")
    from bot.voicelive.auth import default_credential

    credential = default_credential("00000000-0000-0000-0000-000000000001")
    assert type(credential).__name__ == "DefaultAzureCredential"


async def test_the_token_is_never_written_to_a_log() -> None:
    credential = FakeCredential(Clock())
    token = await TokenProvider(credential).token()
    event = SCRUBBER(None, "info", {"event": "x", "detail": f"sent Authorization: Bearer {token}"})
    assert token not in event["detail"] and "***" in event["detail"]

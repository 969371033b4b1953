"""Wrong interview codes limited per caller number and across all callers, over real HTTP, on
SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import sqlalchemy as sa

from bot.config import ConfigError
from bot.http import gate
from bot.interview.context import InterviewContext
from bot.observability.logs import configure
from bot.store.code_failures import CodeFailures, code_failures
from bot.store.code_limits import CodeLimits, derive_key
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import AUTH_TOKEN, make_settings
from tests.support.bridge import Bridge, bridge, voice_params
from tests.support.interview import Directory
from tests.support.scheduling import FakeClock, database

CODE = "482916"
ADA = InterviewContext("practice", "iv-42", "Ada Lovelace", "staff engineer")
MALLORY = "+14155550199"
ALICE = "+14155550123"


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def shared_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """DATABASE_URL of a fresh database: a SQLite file, or a PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/shared.db"
        return
    raw = os.environ.get("TEST_DATABASE_URL") or None
    if raw is None:
        pytest.skip("TEST_DATABASE_URL is unset: PostgreSQL code limit tests skipped")
    import asyncpg

    name = f"codes_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(raw)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield raw.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def fake() -> FakeVoiceLive:
    return FakeVoiceLive(response_audio=lambda i, f: b"\0" * 4800, speed=math.inf, energy_vad=False)


@contextlib.asynccontextmanager
async def gated(url: str, tmp_path: Path, **env: Any) -> AsyncIterator[tuple[Bridge, Directory]]:
    """A bot with the code gate on, over the database at url, looking codes up in a Directory."""
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true", DATABASE_URL=url, **env) as b:
        directory = Directory({CODE: ADA})
        b.app_state.services.directory = directory
        yield b, directory


def sid() -> str:
    return "CA" + uuid.uuid4().hex


async def ring(b: Bridge, call_sid: str, caller: str) -> ElementTree.Element:
    """The voice webhook's answer to an inbound call from caller."""
    response = await b.post("/twilio/voice", {**voice_params(call_sid), "From": caller})
    assert response.status_code == 200, response.text
    return ElementTree.fromstring(response.text)


async def enter(
    b: Bridge, call_sid: str, caller: str, attempt: int, digits: str
) -> ElementTree.Element:
    """A signed <Gather> result from caller, as Twilio posts it."""
    form = {**voice_params(call_sid), "From": caller, "Digits": digits, "FinishedOnKey": ""}
    response = await b.post(f"/twilio/code?attempt={attempt}", form)
    assert response.status_code == 200, response.text
    return ElementTree.fromstring(response.text)


def said(root: ElementTree.Element) -> str:
    return " ".join(root.itertext())


def refused(root: ElementTree.Element, text: str) -> bool:
    """A polite goodbye with this text: no <Gather>, no stream, then <Hangup/>."""
    return [c.tag for c in root] == ["Say", "Hangup"] and root.findtext("Say") == text


async def limited_count(b: Bridge, scope: str) -> float:
    async with httpx.AsyncClient(base_url=b.base, timeout=5) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'bot_code_attempts_limited_total{{scope="{scope}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no bot_code_attempts_limited_total for {scope}:\n{text}")


async def test_wrong_codes_across_calls_are_limited_per_number(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with shared_database(kind, tmp_path) as url, gated(url, tmp_path) as (b, directory):
        configure("json", "info", b.settings.secrets)
        try:
            first = sid()  # three wrong codes end the first call, as before
            assert (await ring(b, first, MALLORY)).find("./Gather") is not None
            for attempt, guess in enumerate(["100001", "100002", "100003"], start=1):
                root = await enter(b, first, MALLORY, attempt, guess)
            assert refused(root, gate.GOODBYE)
            second = sid()  # the same number calls again: two more guesses are checked
            assert (await ring(b, second, MALLORY)).find("./Gather") is not None
            assert (await enter(b, second, MALLORY, 1, "100004")).find("./Gather") is not None
            assert (await enter(b, second, MALLORY, 2, "100005")).find("./Gather") is not None
            assert len(directory.lookups) == 5
            # The sixth is refused without being looked up, and so is the right code.
            assert refused(await enter(b, second, MALLORY, 3, "100006"), gate.LIMITED)
            third = sid()
            assert refused(await ring(b, third, MALLORY), gate.LIMITED)  # at the door
            assert refused(await enter(b, third, MALLORY, 1, CODE), gate.LIMITED)
            assert len(directory.lookups) == 5, "no code is checked while limited"
            assert await limited_count(b, "caller") == 3
            assert await limited_count(b, "global") == 0
            # Another number is not affected: asked, and its right code opens the stream.
            other = sid()
            assert (await ring(b, other, ALICE)).find("./Gather") is not None
            assert (await enter(b, other, ALICE, 1, CODE)).find("./Connect/Stream") is not None
            async with b.app_state.store.engine.connect() as conn:
                rows = (await conn.execute(sa.select(code_failures))).all()
        finally:
            configure("console", "info")
    assert len(rows) == 5 and {len(r.caller_hash) for r in rows} == {64}
    assert all("4155550199" not in r.caller_hash for r in rows), "no number is stored"
    out = capsys.readouterr()
    text = out.err + out.out
    lines = [json.loads(x) for x in text.splitlines() if x[:1] == "{"]
    warned = [x for x in lines if x["event"] == "gate.code_attempts_limited"]
    assert [(x["scope"], x["caller"], x["limit"]) for x in warned] == [
        ("caller", "+1******0199", 5)
    ] * 3
    assert warned[0]["level"] == "warning"
    assert "4155550199" not in text and "100006" not in text and CODE not in text


async def test_the_global_ceiling_limits_every_caller(kind: str, tmp_path: Path) -> None:
    env = {"CODE_ATTEMPTS_PER_HOUR": "3", "CODE_ATTEMPTS_GLOBAL_PER_HOUR": "4"}
    async with shared_database(kind, tmp_path) as url, gated(url, tmp_path, **env) as (b, d):
        for n in range(4):  # four numbers, one wrong code each: nobody is past their own limit
            caller = f"+1415555020{n}"
            call = sid()
            await ring(b, call, caller)
            assert (await enter(b, call, caller, 1, f"20000{n}")).find("./Gather") is not None
        newcomer = sid()  # never tried a code, but everyone together is past the ceiling
        assert refused(await ring(b, newcomer, ALICE), gate.BUSY)
        assert refused(await enter(b, newcomer, ALICE, 1, CODE), gate.BUSY)
        assert len(d.lookups) == 4
        assert await limited_count(b, "global") == 2
        assert await limited_count(b, "caller") == 0


async def test_limits_are_shared_by_replicas(kind: str, tmp_path: Path) -> None:
    env = {"CODE_ATTEMPTS_PER_HOUR": "2"}
    async with (
        shared_database(kind, tmp_path) as url,
        gated(url, tmp_path / "a", **env) as (a, _),
        gated(url, tmp_path / "b", **env) as (b, directory_b),
    ):
        call = sid()
        await ring(a, call, MALLORY)
        await enter(a, call, MALLORY, 1, "300001")
        await enter(a, call, MALLORY, 2, "300002")
        assert refused(await ring(b, sid(), MALLORY), gate.LIMITED)  # the other replica knows
        assert refused(await enter(b, sid(), MALLORY, 1, CODE), gate.LIMITED)
        assert directory_b.lookups == []


async def test_when_the_limits_cannot_be_read_no_code_is_checked(tmp_path: Path) -> None:
    async with gated(f"sqlite:///{tmp_path}/bot.db", tmp_path) as (b, directory):

        async def down(_caller_hash: str) -> tuple[int, int]:
            raise ConnectionError("database down")

        b.app_state.services.code_limits.failures.counts = down
        call = sid()
        assert (await ring(b, call, ALICE)).find("./Gather") is not None  # asked all the same
        assert refused(await enter(b, call, ALICE, 1, CODE), gate.UNAVAILABLE)
        assert directory.lookups == []


async def test_failures_older_than_an_hour_stop_counting_and_are_swept(
    kind: str, tmp_path: Path
) -> None:
    async with database(kind, tmp_path) as open_store:
        store = await open_store()
        clock = FakeClock()
        limits = CodeLimits(CodeFailures(store.engine, now=clock.now), derive_key("k" * 32), 2, 3)
        await limits.failed(MALLORY)
        clock.advance(minutes=30)
        await limits.failed(MALLORY)
        assert await limits.check(MALLORY) == "caller"
        assert await limits.check(ALICE) is None
        await limits.failed(ALICE)
        assert await limits.check(ALICE) == "global"
        clock.advance(minutes=31)  # the first failure is more than an hour old
        assert await limits.check(MALLORY) is None and await limits.check(ALICE) is None
        clock.advance(minutes=20)
        await limits.failed(ALICE)  # writing sweeps what is older than an hour
        async with store.engine.connect() as conn:
            left = (await conn.execute(sa.select(code_failures.c.at))).scalars().all()
        at_30 = clock.now() - timedelta(minutes=51)
        assert sorted(left) == [at_30, at_30, clock.now()]


def test_caller_hashes_are_keyed_by_the_auth_token() -> None:
    import hashlib

    failures = CodeFailures(engine=None)  # type: ignore[arg-type]
    one = CodeLimits(failures, derive_key(AUTH_TOKEN), 5, 200)
    other = CodeLimits(failures, derive_key("another-auth-token-0123456789"), 5, 200)
    assert one.caller_hash(MALLORY) != other.caller_hash(MALLORY)
    assert one.caller_hash(MALLORY) != hashlib.sha256(MALLORY.encode()).hexdigest()
    assert one.caller_hash(MALLORY) == one.caller_hash(f" {MALLORY} ")
    assert derive_key(AUTH_TOKEN) != AUTH_TOKEN.encode()


def test_settings() -> None:
    settings = make_settings()
    assert (settings.code_attempts_per_hour, settings.code_attempts_global_per_hour) == (5, 200)
    settings = make_settings(CODE_ATTEMPTS_PER_HOUR="3", CODE_ATTEMPTS_GLOBAL_PER_HOUR="50")
    assert (settings.code_attempts_per_hour, settings.code_attempts_global_per_hour) == (3, 50)
    for name, value in [
        ("CODE_ATTEMPTS_PER_HOUR", "0"),
        ("CODE_ATTEMPTS_PER_HOUR", "many"),
        ("CODE_ATTEMPTS_GLOBAL_PER_HOUR", "-1"),
    ]:
        with pytest.raises(ConfigError, match=name):
            make_settings(**{name: value})

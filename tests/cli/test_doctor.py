"""`bot doctor` as a subprocess against the fakes over 127.0.0.1: a running bot (for /healthz and
a migrated database), the fake Twilio REST API (Accounts, IncomingPhoneNumbers) and the fake
Voice Live."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.twilio_rest import FakeNumber, FakeTwilioRest
from tests.fakes.voicelive import FakeSession, FakeVoiceLive
from tests.support import ACCOUNT_SID, AUTH_TOKEN, bot_env, free_port, make_settings, running_app

PHONE = "+15005550006"  # TWILIO_PHONE_NUMBER in bot_env and make_settings
NAMES = [
    "settings", "database", "profiles", "public_url", "twilio_account", "twilio_number",
    "voice_live_connect", "voice_live_session", "voice_live_response",
]  # fmt: skip


@dataclass
class Deployment:
    """A bot, its Twilio number and its Voice Live, all fakes but the bot."""

    tmp: Path
    base: str
    env: dict[str, str]
    twilio: FakeTwilioRest
    number: FakeNumber
    voicelive: FakeVoiceLive

    async def doctor(self, *args: str, **env: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "doctor", *args, env={**self.env, **env}, cwd=self.tmp,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def doctor_json(self, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
        code, out, err = await self.doctor("--json", *args, **env)
        assert out.count("\n") == 1, (out, err)  # one JSON document, nothing else on stdout
        return code, json.loads(out)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


@contextlib.asynccontextmanager
async def deployment(
    tmp: Path, *, voice_url: str | None = None, vl_key: str = "test-key"
) -> AsyncIterator[Deployment]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        FakeVoiceLive(api_key=vl_key) as vl,
        FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as twilio,
    ):
        number = twilio.add_number(
            PHONE,
            voice_url=voice_url if voice_url is not None else f"{base}/twilio/voice",
            status_callback=f"{base}/twilio/status",
        )
        extra = {"TWILIO_API_URL": twilio.url, "LOG_FORMAT": "console"}
        env = bot_env(tmp, port, vl.endpoint, **extra)
        settings = make_settings(
            port, tmp, VOICE_LIVE_ENDPOINT=vl.endpoint, DATABASE_URL=env["DATABASE_URL"], **extra
        )
        async with running_app(settings):  # serves /healthz and migrates the database
            yield Deployment(tmp, base, env, twilio, number, vl)


async def test_all_green_against_the_fakes(tmp_path: Path) -> None:
    async with deployment(tmp_path) as d:
        code, report = await d.doctor_json()
        assert code == 0, report
        assert set(report) == {"ok", "checks"} and report["ok"] is True
        assert [c["name"] for c in report["checks"]] == NAMES
        for check in report["checks"]:
            assert set(check) == {"name", "ok", "detail", "fix"}
            assert check["ok"] is True and check["fix"] is None and check["detail"]
        checks = by_name(report)
        assert "ACTIVE" in checks["twilio_account"]["detail"].upper()
        assert f"{d.base}/twilio/voice" in checks["twilio_number"]["detail"]
        assert "first delta after" in checks["voice_live_response"]["detail"]
        # the session.update was the call's own configuration, with an event_id
        session = d.voicelive.sessions[-1]
        [update] = [e for e in session.received if e["type"] == "session.update"]
        assert update["event_id"] and update["session"]["tools"]
        assert "practice" in checks["voice_live_session"]["detail"]
        [create] = [e for e in session.received if e["type"] == "response.create"]
        assert create["event_id"]
        # read-only: nothing was posted to Twilio
        assert [m for m, _ in d.twilio.requests] == ["GET", "GET"]

        code, out, _err = await d.doctor()
        assert code == 0
        lines = out.splitlines()
        assert [line.split()[:2] for line in lines] == [["✓", n] for n in NAMES]
        for secret in (AUTH_TOKEN, "test-key", PHONE):
            assert secret not in out


async def test_a_wrong_voice_live_key_is_explained(tmp_path: Path) -> None:
    async with deployment(tmp_path, vl_key="the-right-key") as d:
        code, report = await d.doctor_json()
    assert code == 1 and report["ok"] is False
    checks = by_name(report)
    connect = checks["voice_live_connect"]
    assert connect["ok"] is False and "401" in connect["detail"]
    assert "Cognitive Services User" in connect["fix"] and "Foundry User" in connect["fix"]
    assert "VOICE_LIVE_API_KEY" in connect["fix"]
    assert not checks["voice_live_session"]["ok"] and not checks["voice_live_response"]["ok"]
    assert all(checks[n]["ok"] for n in NAMES[:6])


async def test_a_number_pointing_elsewhere_is_fixed_by_fix_twilio(tmp_path: Path) -> None:
    elsewhere = "https://old-app.example.com/voice"
    async with deployment(tmp_path, voice_url=elsewhere) as d:
        code, report = await d.doctor_json()
        assert code == 1
        number = by_name(report)["twilio_number"]
        assert number["ok"] is False and elsewhere in number["detail"]
        assert "--fix-twilio" in number["fix"]
        assert d.number.voice_url == elsewhere and d.number.updates == []  # read-only

        code, out, _err = await d.doctor("--fix-twilio")
        assert code == 0, out
        [line] = [x for x in out.splitlines() if x.split()[1] == "twilio_number"]
        assert line.startswith("✓") and "changed VoiceUrl" in line and elsewhere in line
        assert d.number.voice_url == f"{d.base}/twilio/voice"
        assert d.number.voice_method == "POST"
        assert d.number.status_callback == f"{d.base}/twilio/status"
        assert len(d.number.updates) == 1 and d.number.updates[0]["VoiceUrl"] == d.number.voice_url

        code, report = await d.doctor_json()
        assert code == 0 and by_name(report)["twilio_number"]["ok"]
        assert len(d.number.updates) == 1  # nothing left to change


async def test_a_suspended_account_and_a_number_not_ours(tmp_path: Path) -> None:
    async with deployment(tmp_path) as d:
        d.twilio.account_status = "suspended"
        code, report = await d.doctor_json()
        assert code == 1
        account = by_name(report)["twilio_account"]
        assert not account["ok"] and "suspended" in account["detail"]
        d.twilio.account_status = "active"
        code, report = await d.doctor_json(TWILIO_PHONE_NUMBER="+15005550001")
        number = by_name(report)["twilio_number"]
        assert code == 1 and not number["ok"] and "not a number of this account" in number["detail"]
        assert "+15005550001" not in json.dumps(report)  # masked


async def test_bad_settings_exit_2_with_the_message(tmp_path: Path) -> None:
    env = bot_env(tmp_path, free_port(), "http://127.0.0.1:9", AUDIO_FORMAT="opus")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor", "--json", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    report = json.loads(out)
    assert report["ok"] is False
    [check] = report["checks"]
    assert check["name"] == "settings" and not check["ok"]
    assert "AUDIO_FORMAT: must be one of pcm16, g711_ulaw; got 'opus'" in check["detail"]
    assert b"configuration error: AUDIO_FORMAT" in err


async def test_a_refused_session_update_names_the_param_and_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_session: FakeSession, update: dict[str, Any]) -> tuple[str, str] | None:
        if "input_audio_transcription" in update:
            return "input_audio_transcription", "Model azure-speech is not supported."
        return None

    monkeypatch.setattr(FakeSession, "_validate_session", refuse)
    async with deployment(tmp_path) as d:
        code, report = await d.doctor_json()
    assert code == 1
    checks = by_name(report)
    session = checks["voice_live_session"]
    assert not session["ok"]
    assert "session.input_audio_transcription" in session["detail"]
    assert "Model azure-speech is not supported." in session["detail"]
    assert not checks["voice_live_response"]["ok"] and checks["voice_live_connect"]["ok"]


async def test_the_database_check_names_the_revision_it_found(tmp_path: Path) -> None:
    """An older database is reachable but not migrated: the check says at which revision it is
    and which this code needs; a migrated one passes (the revisions read as `bot serve` reads
    them at start, bot/store/migrate.py)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.cli.doctor.local import check_database
    from bot.store import database_url, migrate

    settings = make_settings(tmp=tmp_path)
    engine = create_async_engine(database_url(settings.database_url, settings.data_dir))
    try:
        await migrate.upgrade(engine, "0011")
        older = await check_database(settings)
        await migrate.upgrade(engine)
        current = await check_database(settings)
    finally:
        await engine.dispose()
    heads = ", ".join(sorted(migrate.head_revisions() or ()))
    assert not older.ok, older
    assert f"at 0011; this code needs {heads}" in older.detail
    assert current.ok and heads in current.detail, current

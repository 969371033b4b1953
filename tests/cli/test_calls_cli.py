"""`bot calls` and `bot calls show` over a SQLite call log in a temporary directory."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.cli.calls import parse_since
from bot.store import Store, database_url

T0 = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)
ENV_UNSET = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "VOICE_LIVE_ENDPOINT",
    "PUBLIC_URL",
    "PORT",
    "API_TOKEN",
)


async def _fill(url: str) -> None:
    store = await Store.open(url)
    await store.call_started(
        call_sid="CAdone",
        direction="inbound",
        started_at=T0,
        from_masked="+1******1234",
        to_masked="+1******0006",
        instance="test",
        interview_id="iv-1",
        profile="backend",
    )
    await store.call_updated("CAdone", answered_at=T0 + timedelta(seconds=1))
    turns = [
        ("bot", "Hello, are you ready?", 60.0, True),
        ("caller", "Yes, I'm ready.", 9080.0, False),
        ("bot", "Tell me about a project.", 10660.0, False),
    ]
    for speaker, text, offset, cut in turns:
        at = T0 + timedelta(milliseconds=offset)
        await store.add_turn(
            "CAdone", speaker=speaker, text=text, at=at, offset_ms=offset, interrupted=cut
        )
    await store.add_error(
        "CAdone",
        source="voicelive",
        code="rate_limited",
        message="slow",
        at=T0 + timedelta(seconds=30),
    )
    await store.call_ended(
        "CAdone",
        ended_at=T0 + timedelta(seconds=65),
        end_reason="interview_finished",
        turns=3,
        barge_ins=1,
        response_ms=[600.0, 620.0],
        usage={"input_audio_tokens": 1000, "output_audio_tokens": 2000},
        cached_split="estimated",
        cost_usd=0.1761,
    )
    await store.call_started(
        call_sid="CAlive",
        direction="outbound",
        started_at=T0 + timedelta(minutes=10),
        from_masked="+1******0006",
        to_masked="+1******9876",
        instance="test",
    )
    await store.close()


@pytest.fixture
def call_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "calls.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    url = database_url(f"sqlite:///{db}", tmp_path)
    asyncio.run(_fill(url))
    return url


def test_table(call_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "started", "(UTC)", "call", "sid", "direction", "status", "duration", "end", "reason",
        "turns", "barge-ins", "p50/p95", "ms", "cost",
    ]  # fmt: skip
    assert out[1].split() == [
        "2026-11-25", "06:10:00", "CAlive", "outbound", "in_progress", "-", "-", "0", "0",
        "-/-", "$0.0000",
    ]  # fmt: skip
    assert out[2].split() == [
        "2026-11-25", "06:00:00", "CAdone", "inbound", "completed", "1m05s",
        "interview_finished", "3", "1", "610/619", "$0.1761",
    ]  # fmt: skip
    assert len(out) == 3


def test_filters_and_json(call_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--status", "completed", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["call_sid"] for line in lines] == ["CAdone"]
    assert json.loads(lines[0])["usage"]["output_audio_tokens"] == 2000

    assert main(["calls", "--since", "2026-11-25T06:05:00Z", "--json"]) == 0
    assert [json.loads(x)["call_sid"] for x in capsys.readouterr().out.splitlines()] == ["CAlive"]

    assert main(["calls", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "CAlive" in out and "CAdone" not in out and "more calls" in out

    assert main(["calls", "--status", "failed"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no calls"


def test_show(call_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "show", "CAdone"]) == 0
    out = capsys.readouterr().out
    assert "Call CAdone  inbound  completed" in out
    assert "iv-1" in out and "backend" in out
    assert "+1******1234 -> +1******0006" in out
    assert "1m05s" in out and "interview_finished" in out
    assert "p50 610 ms" in out and "p95 619 ms" in out
    assert "$0.1761" in out
    assert "out audio 2000 (cached split estimated)" in out
    timeline = out.split("Timeline\n")[1].split("\n\n")[0].splitlines()
    assert [line.split(None, 1) for line in timeline] == [
        ["+0.00s", "call started (inbound)"],
        ["+0.06s", "bot cut off (barge-in)"],
        ["+1.00s", "answered"],
        ["+30.00s", "error from voicelive rate_limited: slow"],
        ["+65.00s", "call ended: interview_finished"],
    ]
    transcript = out.split("Transcript\n")[1].splitlines()
    assert [line.split(None, 2) for line in transcript] == [
        ["bot", "+0.06s", "Hello, are you ready? (cut off)"],
        ["caller", "+9.08s", "Yes, I'm ready."],
        ["bot", "+10.66s", "Tell me about a project."],
    ]

    assert main(["calls", "show", "CAdone", "--json"]) == 0
    call = json.loads(capsys.readouterr().out)
    assert call["call_sid"] == "CAdone" and len(call["transcript"]) == 3
    assert call["usage"]["cached_split"] == "estimated"


def test_show_unknown_call(call_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "show", "CAnope"]) == 1
    captured = capsys.readouterr()
    assert "no call CAnope" in captured.err
    assert captured.out == ""


def test_bad_arguments(call_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["calls", "--since", "last week"], ["calls", "--limit", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--since" in capsys.readouterr().err


def test_parse_since() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_since("1h", now) == now - timedelta(hours=1)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2026-11-25T06:00:00", now) == T0
    assert parse_since("2026-11-25T08:00:00+02:00", now) == T0

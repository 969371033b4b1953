"""End to end with the local engine and the softphone: a silent caller is checked on, asked
for a key and let go as `no_response`; one who presses a key but is never heard, `one_way_audio`."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path
from typing import Any

from bot.softphone import Options
from tests.localengine.test_local_call import PRACTICE_PROFILE, call_in_own_loop
from tests.support import make_settings, running_app
from tests.support.bridge import wait_ended

QUICK = dataclasses.replace(
    PRACTICE_PROFILE, silence_prompt_s=1.5, silence_check_s=3.0, silence_end_s=4.5
)


async def silent_call(
    tmp_path: Path, press: list[tuple[str, float]], profile: Any = QUICK
) -> tuple[Any, dict, str]:
    settings = make_settings(tmp=tmp_path)
    async with running_app(settings) as (base, app):
        app.state.services.profiles["practice"] = profile
        options = Options(url=base, token=settings.twilio_auth_token, silent=True, press=press,
                          timeout=40, out=io.StringIO())  # fmt: skip
        report = await asyncio.to_thread(call_in_own_loop, options)
        calls, _ = await app.state.store.list_calls(limit=1)
        record = await wait_ended(app.state.store, calls[0]["call_sid"])
    return report, record, options.out.getvalue()  # type: ignore[union-attr]


def bot_lines(record: dict) -> list[str]:
    return [t["text"] for t in record["transcript"] if t["speaker"] == "bot"]


async def test_a_silent_caller_is_ended_as_no_response(tmp_path: Path) -> None:
    short = dataclasses.replace(QUICK, greeting="Hello. Are you ready?")  # not 10 s of it
    report, record, timeline = await silent_call(tmp_path, [], short)
    assert report.exit_code == 0 and report.unplayed_ms == 0, report.reason + timeline
    assert report.action_twiml is not None and "Hangup" in report.action_twiml
    assert record["end_reason"] == "no_response", (record["end_reason"], timeline)
    assert record["status"] == "completed", "not a failure on our side"
    said = bot_lines(record)
    assert said[1:] == [QUICK.silence_prompt, QUICK.silence_check, QUICK.silence_goodbye], said
    events = [e["code"] for e in record["errors"] if e["source"] == "bot"]
    assert events == ["silence_prompt", "silence_check", "no_response"], record["errors"]
    assert not report.caller_segments, "the caller never spoke"
    # the greeting, 4.5 s of silence with two short lines in it, the goodbye: not the
    # profile's 10-minute limit
    assert record["duration_s"] < 60, timeline


async def test_a_key_but_no_voice_is_ended_as_one_way_audio(tmp_path: Path) -> None:
    # The greeting plays about 10 s; the check-in comes 1.5 s after it, the request for a key
    # at 3 s (once the check-in has played), the goodbye only at 20 s. A key during the
    # greeting is an ordinary key (5 means nothing); the one at 20 s answers the request.
    profile = dataclasses.replace(QUICK, silence_end_s=20.0)
    report, record, timeline = await silent_call(tmp_path, [("5", 2.0), ("5", 20.0)], profile)
    assert report.exit_code == 0, report.reason + timeline
    said = bot_lines(record)
    assert record["end_reason"] == "one_way_audio", (record["end_reason"], timeline)
    assert record["status"] == "completed"
    assert said[-1] == QUICK.one_way_goodbye, said
    assert QUICK.silence_check in said and QUICK.silence_goodbye not in said

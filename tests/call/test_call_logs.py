"""Logs of a whole call: every line bound to the call, no phone number or secret anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.observability.logs import configure
from tests.fakes import audio
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import AUTH_TOKEN
from tests.support.bridge import CALLER, bridge, wait_ended


async def test_call_log_lines_are_bound_and_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeVoiceLive(
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400, 3000, audio.FORMAT_RATES[fmt], 0.3), fmt
        )
    )
    async with bridge(tmp_path, fake, LOG_FORMAT="json") as b:
        configure("json", "debug", b.settings.secrets)
        try:
            async with await b.call() as call:
                token = call.custom_parameters["token"]
                await call.wait_for(lambda: call.played_ms() >= 500, timeout=5)
                await call.speak(audio.ulaw_tone(1000, 400, 0.5))  # > speech_duration_ms
                await call.wait_for(lambda: len(call.clears) == 1, timeout=3)
                await call.send_raw("{broken")
                await call.hangup()
                await b.vl.sessions[0].closed.wait()
                await wait_ended(b.app_state.store, call.call_sid)
        finally:
            configure("console", "info")
    err = capsys.readouterr().err.splitlines()  # lines before configure() are console text
    lines = [json.loads(line) for line in err if line.startswith("{")]
    events = [line["event"] for line in lines]
    for expected in (
        "call.incoming",
        "call.started",
        "call.greeting_requested",
        "call.barge_in",
        "twilio.bad_frame",
        "twilio.stop",
        "call.ended",
    ):
        assert expected in events, expected
    start, end = events.index("call.started"), events.index("call.ended")
    # websockets.server lines come from the fake Voice Live, which runs in this process; the
    # process's own watchers (event-loop lag, GC pauses, slow task steps, which may be the
    # fakes' steps here) are no call's lines: a loaded machine makes them log mid-call.
    process_wide = ("websockets.server", "bot.observability.looplag",
                    "bot.observability.gcpause", "bot.observability.stalls")  # fmt: skip
    in_call = [line for line in lines[start : end + 1] if line.get("logger") not in process_wide]
    unbound = [line for line in in_call if line.get("call_sid") != call.call_sid]
    assert unbound == []
    assert all(line.get("stream_sid") == call.stream_sid for line in in_call)
    ended = lines[end]
    assert ended["reason"] == "caller_hung_up" and ended["barge_ins"] == 1
    assert ended["duration_s"] > 0.5
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in (CALLER, CALLER[1:], AUTH_TOKEN, "test-key", token):
        assert secret not in text
    assert "+1******0142" in text

"""Time-keeping: remaining-time checks at turn boundaries, wrap-up, and the hard limit."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path
from typing import Any

from bot.interview.timekeeping import Timekeeper, spoken
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeSession, FakeVoiceLive
from tests.support.bridge import bridge, wait_ended
from tests.support.interview import fixed_line, practice_profile

PRACTICE_PROFILE = practice_profile()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_timekeeper_updates_wrap_up_and_limit_on_an_injected_clock() -> None:
    clock = Clock()
    keeper = Timekeeper(30 * 60, now=clock)
    assert keeper.wrap_up_at == clock.t + 28 * 60, "two minutes before the end"
    assert keeper.at_turn_boundary() is None, "nothing to say at the start"
    clock.t += 4 * 60
    assert keeper.at_turn_boundary() is None, "updates come every 5 minutes of 30"
    clock.t += 61
    update = keeper.at_turn_boundary()
    assert update is not None and "about 25 minutes remain" in update
    assert keeper.at_turn_boundary() is None, "not again at the next turn"
    clock.t = keeper.wrap_up_at - 1
    assert "about 2 minutes remain" in (keeper.at_turn_boundary() or "")
    clock.t = keeper.wrap_up_at + 1
    wrap = keeper.at_turn_boundary()
    assert wrap is not None and "Wrap up now" in wrap and "end_interview" in wrap
    clock.t += 30
    assert keeper.at_turn_boundary() is None, "the wrap-up request is made once"
    assert "Wrap up now" in keeper.status(), "a new session is told to wrap up too"
    clock.t = keeper.ends_at + 5
    assert keeper.remaining() == 0 and keeper.at_turn_boundary() is None


def test_short_interviews_wrap_up_in_their_last_fifth() -> None:
    keeper = Timekeeper(5 * 60, now=Clock())
    assert keeper.wrap_up_lead_s == 60 and keeper.update_every_s == 50
    assert spoken(3000) == "about 50 minutes" and spoken(62) == "about 1 minute"
    assert spoken(42) == "about 40 seconds" and spoken(0) == "about 5 seconds"


def short_profile(minutes: float, **changes: Any) -> Any:
    return dataclasses.replace(PRACTICE_PROFILE, duration_min=minutes, **changes)


def tones(lengths_ms: dict[int, int], default_ms: int = 800):
    def make(index: int, fmt: str) -> bytes:
        ms = lengths_ms.get(index, default_ms)
        return audio.encode(audio.tone(400 + 150 * index, ms, audio.FORMAT_RATES[fmt], 0.3), fmt)

    return make


async def keep_answering(call: FakeTwilioCall) -> None:
    """A candidate who answers briefly whenever the bot has finished talking."""
    while not call.closed:
        if call.buffered_ms() == 0 and call.received_audio:
            await call.speak(audio.ulaw_tone(700, 400, 0.5) + b"\xff" * 8 * 700)
        await asyncio.sleep(0.05)


def system_messages(session: FakeSession) -> list[tuple[float, str]]:
    return [
        (at, e["item"]["content"][0]["text"])
        for at, e in session.received_log
        if e["type"] == "conversation.item.create" and e["item"].get("role") == "system"
    ]


def speaking_at(session: FakeSession, at: float) -> bool:
    """Whether the model was producing a response at that instant."""
    return any(
        r.created_at is not None and r.created_at <= at and (r.done_at is None or r.done_at > at)
        for r in session.responses
    )


async def test_time_checks_at_turn_boundaries_then_wrap_up_then_the_closing_line(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=math.inf, response_audio=tones({}))
    async with bridge(tmp_path, fake) as b:
        profile = short_profile(0.1, closing="Thanks, that is all the time we have. Goodbye.")
        b.app_state.services.profiles["practice"] = profile  # 6 s: wrap-up at 4.8 s
        async with await b.call(continuous=False) as call:
            session = await b.vl.wait_for_session(1)
            started = asyncio.get_running_loop().time()
            candidate = asyncio.create_task(keep_answering(call))
            try:
                assert await call.wait_closed(timeout=12) == 1000
            finally:
                candidate.cancel()
            closed_at = call.closed_at
        messages = system_messages(session)
        updates = [(at, m) for at, m in messages if "remain" in m and "Wrap up" not in m]
        wraps = [(at, m) for at, m in messages if "Wrap up now" in m]
        assert updates, messages
        assert len(wraps) == 1 and wraps[0][0] - started >= 4.5, (wraps, started)
        for at, text in messages:
            assert not speaking_at(session, at), f"sent while the model was speaking: {text}"
        # At the hard limit: turn detection off, then the closing line, asked for explicitly.
        off = session.events_of("session.update")[-1]["session"]
        assert off == {"turn_detection": None}
        closing = session.events_of("response.create")[-1]
        assert fixed_line(closing) == profile.closing  # word for word, no inference
        limit_at = next(at for at, e in session.received_log if e is closing)
        assert 5.8 <= limit_at - started <= 7.0
        # The call ended only after the closing line's audio had played (its last mark came back).
        last = session.responses[-1]
        assert last.request is closing and last.status == "completed"
        assert call.played_ms() >= sum(r.audio_ms for r in session.responses if r.audio_ms) - 900
        assert call.marks_echoed[-1].at <= closed_at
        assert call.buffered_ms(closed_at) == 0
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "time_limit" and record["status"] == "completed"
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert "<Hangup />" in ended.text and "<Say>" not in ended.text


async def test_barging_in_over_the_closing_at_the_hard_limit_still_ends_the_call(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(speed=math.inf, response_audio=tones({0: 600, 1: 2500}))
    async with bridge(tmp_path, fake) as b:
        b.app_state.services.profiles["practice"] = short_profile(0.03)  # 1.8 s
        async with await b.call(continuous=False) as call:
            session = await b.vl.wait_for_session(1)
            closing = await session.wait_event("response.create", skip=1, timeout=5)
            await call.wait_for(lambda: call.played_ms() >= 600 + 500, timeout=5)
            # The candidate talks over the goodbye, and a speech_started already on its way
            # when turn detection went off reaches the bot too.
            talking = asyncio.create_task(call.speak(audio.ulaw_tone(700, 800, 0.5)))
            await session.speech_started()
            assert await call.wait_closed(timeout=6) == 1000
            await talking
        assert call.clears == [], "the closing line was not cut"
        assert session.responses[1].request is closing
        assert call.played_ms() >= 600 + 2500 - 200  # the closing line played (nearly) in full
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "time_limit"


async def test_max_call_duration_caps_the_profile(tmp_path: Path) -> None:
    fake = FakeVoiceLive(speed=math.inf, energy_vad=False, response_audio=tones({}))
    async with bridge(tmp_path, fake, MAX_CALL_DURATION_S="1.5") as b:
        async with await b.call(continuous=False) as call:  # the practice profile: 10 minutes
            session = await b.vl.wait_for_session(1)
            assert await call.wait_closed(timeout=6) == 1000
            assert len(session.events_of("response.create")) == 2
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "time_limit" and 1.5 <= record["duration_s"] < 4


async def test_end_interview_hangs_up_only_after_the_goodbyes_last_mark(tmp_path: Path) -> None:
    fake = FakeVoiceLive(speed=math.inf, energy_vad=False, response_audio=tones({0: 2000}))
    async with bridge(tmp_path, fake) as b:
        async with await b.call(continuous=False) as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            await session.send(
                {"type": "response.function_call_arguments.done",
                 "response_id": session.responses[0].id, "item_id": "item_fc", "output_index": 1,
                 "call_id": "call_1", "name": "end_interview", "arguments": "{}"}
            )  # fmt: skip
            requested = asyncio.get_running_loop().time()
            assert await call.wait_closed(timeout=5) == 1000
        marks_sent = [e["mark"]["name"] for e in call.events("mark")]
        last = call.marks_echoed[-1]
        assert last.name == marks_sent[-1] and not last.by_clear
        assert call.closed_at is not None and last.at <= call.closed_at < last.at + 0.2
        assert call.closed_at - requested >= 1.3, "Twilio still held most of the goodbye"
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "interview_finished"

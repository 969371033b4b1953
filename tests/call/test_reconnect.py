"""60 minutes without a break: sessions that expire or drop are replaced, the call goes on."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.voicelive.keeper import Resumed, SessionKeeper
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeSession, FakeVoiceLive
from tests.support.bridge import bridge, wait_ended
from tests.support.interview import fixed_line, practice_profile

PRACTICE_GREETING = " ".join(practice_profile().greeting.split())


def caller_bytes(call: FakeTwilioCall) -> int:
    """μ-law bytes of caller audio the fake Twilio sent (each becomes 6 bytes of PCM16 24 kHz)."""
    return sum(
        len(e["media"]["payload"]) * 3 // 4 - e["media"]["payload"].count("=")
        for _, e in call.sent_events
        if e["event"] == "media"
    )


def appended(fake: FakeVoiceLive) -> int:
    """Caller audio appended to every session of the call, together."""
    return sum(len(s.appended_audio) for s in fake.sessions)


def texts(session: FakeSession) -> list[tuple[str, str]]:
    """The message items the bot created on a session, as (role, text)."""
    return [
        (e["item"]["role"], e["item"]["content"][0]["text"])
        for e in session.events_of("conversation.item.create")
        if e["item"].get("type") == "message"
    ]


async def answer(call: FakeTwilioCall, ms: int = 400) -> None:
    """The caller says something (a tone), then stays quiet long enough to end the turn."""
    await call.speak(audio.ulaw_tone(700, ms, 0.5) + b"\xff" * 8 * 700)


async def test_session_expired_mid_interview_reconnects_replays_history_and_keeps_audio(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=math.inf)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_for(lambda: len(s1.responses) == 1 and s1.responses[0].done_at)
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5)
            await answer(call)
            await s1.wait_for(lambda: len(s1.responses) == 2 and s1.responses[1].done_at)
            await call.wait_for(lambda: call.played_ms() >= 3000, timeout=5)
            # The service expires the session while the caller is talking; the new one is slow
            # to accept, so caller audio has to wait for it.
            fake.accept_delay_s = 0.3
            talking = asyncio.create_task(answer(call, 600))
            await asyncio.sleep(0.1)
            await s1.expire()
            s2 = await b.vl.wait_for_session(2)
            await talking
            await s2.wait_for(lambda: len(s2.responses) == 1 and s2.responses[0].done_at)
            assert s1.close_code == 1001
            # The new session got the conversation so far, as text, then the remaining time,
            # before any caller audio.
            replay = texts(s2)
            assert replay[:4] == [
                ("assistant", PRACTICE_GREETING),  # said word for word
                ("user", "caller utterance 0"),
                ("assistant", "This is assistant response 1."),
                replay[3],
            ]
            assert replay[3][0] == "system" and "remain" in replay[3][1]
            first_append = next(
                i for i, e in enumerate(s2.received) if e["type"] == "input_audio_buffer.append"
            )
            assert all(e["type"] != "input_audio_buffer.append" for e in s2.received[:first_append])
            assert len(s2.events_of("conversation.item.create")) == 4
            assert s2.events_of("response.create") == [], "at the caller's turn: no new response"
            # Same instructions as the first session.
            config = next(e["session"] for e in s2.events_of("session.update"))
            assert (
                config["instructions"]
                == s1.events_of("session.update")[0]["session"]["instructions"]
            )
            # The caller's second answer reached the new session and was answered there.
            assert s2.sent_of("input_audio_buffer.speech_started")
            # No caller audio lost: both sessions together got every byte the caller sent.
            sent = caller_bytes(call)
            await s2.wait_for(lambda: len(s1.appended_audio) + len(s2.appended_audio) >= sent * 6)
            assert len(s1.appended_audio) + len(s2.appended_audio) == sent * 6
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "caller_hung_up"
        reconnects = [e for e in record["errors"] if e["code"] == "reconnected"]
        assert len(reconnects) == 1 and "session_expired" in reconnects[0]["message"], record
        held_ms = float(reconnects[0]["message"].split("held ")[1].split(" ms")[0])
        assert 250 <= held_ms < 1500, reconnects  # the slow accept, plus little else
        # Response times stay true across sessions (the new session counts audio from 0):
        # the fake's 500 ms of silence detection + 50 ms, for both answers.
        assert len(record["response_ms"]) == 2, record["response_ms"]
        assert all(520 <= ms <= 900 for ms in record["response_ms"]), record["response_ms"]


async def test_recycles_before_expiry_at_a_turn_boundary_while_the_caller_listens(
    tmp_path: Path,
) -> None:
    # Sessions say they expire 4 s after they open: the bot recycles at the first turn
    # boundary past 3.2 s (a fifth of the lifetime before expires_at), not at the one before.
    fake = FakeVoiceLive(
        transcribe=True, speed=math.inf, session_ttl_s=4,
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400 + 150 * i, 2500, audio.FORMAT_RATES[fmt], 0.3), fmt
        ),
    )  # fmt: skip
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 2500, timeout=5)
            assert len(b.vl.sessions) == 1, "the greeting's boundary came too early to recycle"
            await answer(call)
            s2 = await b.vl.wait_for_session(2, timeout=5)
            await s2.wait_event("conversation.item.create")
            switched = s2.received_log[0][0]
            # At a turn boundary: the last response of s1 was complete...
            last = s1.responses[-1]
            assert len(s1.responses) == 2 and last.status == "completed"
            assert last.done_at is not None and last.done_at <= switched
            # ...and the caller was listening to it (Twilio was playing it).
            assert any(c.start <= switched <= c.end for c in call.playback_timeline)
            assert s2.events_of("response.create") == []
            assert texts(s2)[:3] == [
                ("assistant", PRACTICE_GREETING),  # said word for word
                ("user", "caller utterance 0"),
                ("assistant", "This is assistant response 1."),
            ]
            assert texts(s2)[3][0] == "system"
            await call.wait_for(lambda: call.played_ms() >= 5000, timeout=5)
            await s1.closed.wait()
            await answer(call)
            await s2.wait_for(lambda: len(s2.responses) == 1, timeout=5)
            await call.wait_for(lambda: call.played_ms() >= 6000, timeout=5)
            assert call.gaps(min_ms=30, max_ms=400) == [], "the caller heard no pause"
            sent = caller_bytes(call)
            # (s2 expires as soon, so it is recycled in its turn: sum over every session)
            await s2.wait_for(lambda: appended(b.vl) >= sent * 6)
            assert appended(b.vl) == sent * 6
            assert s1.expired_at is None and s1.close_code == 1000  # we closed it, in time
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        codes = [e["code"] for e in record["errors"]]
        assert codes == ["session_recycled"] * len(b.vl.sessions[1:]), codes


async def test_unexpected_drop_reconnects_with_backoff(tmp_path: Path) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=math.inf)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_for(lambda: len(s1.responses) == 1 and s1.responses[0].done_at)
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5)
            # The service becomes unreachable and the connection drops.
            fake.refuse_status = 503
            dropped = asyncio.get_running_loop().time()
            await s1.close(1011, "internal error")
            await s1.wait_for(lambda: len(b.vl.handshakes) >= 4, timeout=5)  # preopen + 3
            fake.refuse_status = None
            s2 = await b.vl.wait_for_session(2, timeout=8)
            attempts = [h for h in b.vl.handshakes if h.at >= dropped]
            statuses = [h.status for h in attempts]
            assert statuses[-1] == 101 and set(statuses[:-1]) == {503}, statuses
            gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
            assert attempts[0].at - dropped < 0.2, "the first attempt is immediate"
            assert 0.18 <= gaps[0] <= 0.4 and 0.38 <= gaps[1] <= 0.75, gaps  # 0.25, 0.5 s ±20%
            await answer(call)
            await s2.wait_for(lambda: len(s2.responses) == 1, timeout=5)
            assert not call.closed
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "caller_hung_up"
        assert [e["code"] for e in record["errors"]] == ["reconnected"]
        assert "closed 1011" in record["errors"][0]["message"]


async def test_a_drop_mid_response_gets_the_answer_again_from_the_new_session(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=1.0)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 300, timeout=5)
            await s1.close(1011, "gone")
            s2 = await b.vl.wait_for_session(2)
            create = await s2.wait_event("response.create")
            notes = [text for role, text in texts(s2) if role == "system"]
            assert any("interrupted" in n for n in notes), notes
            assert "response" not in create  # the session's own instructions apply
            await s2.wait_for(lambda: len(s2.responses) == 1, timeout=5)
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5)
            # The new answer was ready before Twilio ran out of the old one's queued audio.
            assert call.gaps(min_ms=30) == [], "no pause the caller could notice"


async def test_a_refused_reconnect_ends_the_call_with_the_apology(tmp_path: Path) -> None:
    fake = FakeVoiceLive(speed=math.inf)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 500, timeout=5)
            fake.refuse_status = 401  # e.g. the key was rotated: retrying cannot help
            await s1.close(1011, "internal error")
            assert await call.wait_closed(timeout=3) == 1000
        assert [h.status for h in b.vl.handshakes] == [101, 401], "refusals are not retried"
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "voicelive_closed" and record["status"] == "failed"
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert "<Say>We're sorry" in ended.text


async def test_reconnects_give_up_after_the_budget(tmp_path: Path) -> None:
    fake = FakeVoiceLive(speed=math.inf)
    async with bridge(tmp_path, fake, VOICE_LIVE_RECONNECT_S="1.5") as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 500, timeout=5)
            fake.refuse_status = 503
            loop = asyncio.get_running_loop()
            dropped = loop.time()
            await s1.close(1011, "internal error")
            assert await call.wait_closed(timeout=5) == 1000
            assert 1.4 <= loop.time() - dropped <= 2.5, "the whole budget is used, no more"
        attempts = [h.status for h in b.vl.handshakes[1:]]
        assert attempts == [503] * len(attempts) and 4 <= len(attempts) <= 5, attempts
        record: dict[str, Any] = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "voicelive_closed"


async def test_sessions_that_expire_with_no_turn_boundary_in_sight_are_replaced_each_time(
    tmp_path: Path,
) -> None:
    # The caller never lets a turn end (no VAD turns here), so no recycle can happen: each
    # session hits its lifetime, says session_expired and closes; the call carries on.
    fake = FakeVoiceLive(speed=math.inf, energy_vad=False, session_ttl_s=1.2, enforce_ttl=True)
    async with bridge(tmp_path, fake) as b:
        async with await b.call(continuous=False) as call:
            talking = asyncio.create_task(call.speak(audio.ulaw_tone(700, 3300, 0.5)))
            await b.vl.wait_for_session(3, timeout=6)
            await talking
            sent = caller_bytes(call)
            await b.vl.sessions[-1].wait_for(lambda: appended(b.vl) >= sent * 6)
            assert appended(b.vl) == sent * 6
            assert all(s.expired_at is not None for s in b.vl.sessions[:2])
            assert not call.closed
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        reconnects = [e for e in record["errors"] if e["code"] == "reconnected"]
        assert len(reconnects) >= 2 and all("session_expired" in e["message"] for e in reconnects)


async def test_session_expired_without_a_close_is_not_waited_for(tmp_path: Path) -> None:
    fake = FakeVoiceLive(speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_event("response.create")
            await s1.send_error("session_expired", "Your session hit the maximum duration.")
            s2 = await b.vl.wait_for_session(2, timeout=3)
            await asyncio.wait_for(s1.closed.wait(), 3)
            assert s1.close_code == 1000, "the bot closed it"
            appended = len(s2.appended_audio)
            await s2.wait_for(lambda: len(s2.appended_audio) > appended + 960 * 10)
            assert not call.closed


async def test_a_recycle_switches_while_the_caller_hears_the_bot_not_in_the_silence_after(
    tmp_path: Path,
) -> None:
    # Sessions expire 4 s after they open: a recycle is due from 3.2 s. The next session is
    # slow to open, so by then the bot's short answer has played out and the caller may speak
    # any moment: the switch waits for the next answer the caller is listening to.
    fake = FakeVoiceLive(
        transcribe=True, speed=math.inf, session_ttl_s=4,
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400 + 150 * i, 3400 if i == 0 else 300, audio.FORMAT_RATES[fmt], 0.3), fmt
        ),
    )  # fmt: skip
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 3400, timeout=6)
            fake.accept_delay_s = 0.6
            await answer(call)
            await s1.wait_for(lambda: len(s1.responses) == 2 and s1.responses[1].done_at)
            s2 = await b.vl.wait_for_session(2, timeout=5)
            await asyncio.sleep(1.0)  # opened, its answer played out: the caller's turn
            assert texts(s2) == [], "no switch while the caller may be about to speak"
            await answer(call)
            replayed = await s2.wait_event("conversation.item.create", timeout=5)
            switched = next(at for at, e in s2.received_log if e is replayed)
            assert len(s1.responses) == 3 and s1.responses[2].done_at is not None
            assert s1.responses[2].done_at <= switched
            assert any(c.start <= switched <= c.end for c in call.playback_timeline), (
                "switched while the caller was hearing the bot"
            )
            await call.hangup()


async def test_words_the_old_session_transcribes_after_a_switch_go_to_the_new_one(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(
        transcribe=True, speed=math.inf, session_ttl_s=1.5,
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400 + 150 * i, 2500, audio.FORMAT_RATES[fmt], 0.3), fmt
        ),
    )  # fmt: skip
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5)
            await answer(call)  # a turn boundary past the recycle point, while the bot talks
            s2 = await b.vl.wait_for_session(2, timeout=5)
            await s2.wait_event("conversation.item.create")
            # The caller's short "yes" reached s1 just before the switch; its words come now.
            await s1.send({"type": "conversation.item.input_audio_transcription.completed",
                           "item_id": "item_late", "content_index": 0,
                           "transcript": "yes, go on"})  # fmt: skip
            create = await s2.wait_event("response.create", timeout=3)
            handed = [e for e in s2.events_of("conversation.item.create")
                      if e["item"]["content"][0]["text"] == "yes, go on"]  # fmt: skip
            assert [e["item"]["role"] for e in handed] == ["user"]
            assert s2.received.index(handed[0]) < s2.received.index(create)
            await s2.wait_for(lambda: len(s2.responses) == 1)
            await s1.closed.wait()
            assert s1.close_code == 1000, "closed by the bot once it had no more to say"
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        said = [t["text"] for t in record["transcript"] if t["speaker"] == "caller"]
        assert "yes, go on" in said


class StubSession:
    """A stand-in VoiceLiveConnection: sends can be slowed or hang, the service can close it."""

    def __init__(self, name: str, send_delay_s: float = 0.0) -> None:
        self.name = name
        self.send_delay_s = send_delay_s
        self.sent: list[str] = []
        self.closed = False
        self.ended = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""

    async def send(self, text: str) -> None:
        await asyncio.sleep(self.send_delay_s)
        self.sent.append(text)

    def sends_at_once(self, text: str) -> bool:
        return False  # its sends may hang: each one gets the deadline

    async def events(self) -> AsyncIterator[Any]:
        await self.ended.wait()
        return
        yield

    async def close(self) -> None:
        self.closed = True
        self.close_code = self.close_code or 1000
        self.ended.set()

    async def probe(self, timeout: float) -> bool:  # noqa: ASYNC109
        return True

    def abort(self) -> None:
        self.closed = True
        self.close_code = self.close_code or 1006
        self.ended.set()

    def __repr__(self) -> str:
        return self.name


def stub_keeper(old: StubSession, new: StubSession) -> SessionKeeper:
    async def reopen() -> Any:
        return new

    return SessionKeeper(
        old,  # type: ignore[arg-type]
        reopen,
        replay=lambda planned: ["history item"],
        can_switch=lambda: True,
        bytes_per_ms=8,
        recycle_after_s=0.0,
        reconnect_budget_s=5,
    )


async def test_the_call_ending_during_a_recycles_switch_closes_both_sessions() -> None:
    old, new = StubSession("old"), StubSession("new", send_delay_s=0.5)
    keeper = stub_keeper(old, new)
    keeper.boundary()
    await asyncio.sleep(0.1)  # switched, the replay is going to the new session
    assert keeper.ready is False and not new.sent
    await keeper.close()  # the call ends now
    assert old.closed and new.closed


async def test_a_recycle_reports_its_switch_even_if_the_old_session_closes_meanwhile() -> None:
    old, new = StubSession("old"), StubSession("new", send_delay_s=0.3)
    keeper = stub_keeper(old, new)
    seen: list[Any] = []

    async def read() -> None:
        async for event in keeper.events():
            seen.append(event)

    reader = asyncio.create_task(read())
    try:
        await asyncio.sleep(0.01)
        keeper.boundary()
        await asyncio.sleep(0.1)  # switched, the replay is going to the new session
        old.close_code = 1001
        old.ended.set()  # the service closes the old session meanwhile
        await asyncio.sleep(0.6)
        assert [type(e) for e in seen] == [Resumed] and seen[0].planned
        assert keeper.ready and new.sent == ["history item"] and not new.closed
    finally:
        reader.cancel()
        await keeper.close()


async def test_a_session_that_stops_taking_audio_is_dropped_and_the_audio_kept() -> None:
    # The service stops reading (a dead TCP path): the send never finishes.
    old, new = StubSession("old", send_delay_s=3600), StubSession("new")
    keeper = stub_keeper(old, new)
    keeper.recycle_after_s = 3600.0
    seen: list[Any] = []

    async def read() -> None:
        async for event in keeper.events():
            seen.append(event)

    reader = asyncio.create_task(read())
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.wait_for(keeper.send_audio(b"\x01" * 160), 5)  # 20 ms of caller audio
        assert loop.time() - began < 2.5, "the caller's audio is not held up for long"
        await keeper.send_audio(b"\x02" * 160)  # meanwhile: kept for the next session
        await asyncio.wait_for(old.ended.wait(), 3)  # given up on, closed
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        [resumed] = seen
        assert isinstance(resumed, Resumed) and not resumed.planned
        assert "stalled" in resumed.cause
        assert new.sent[0] == "history item"
        sent = [json.loads(e)["audio"] for e in new.sent[1:]]
        # Both frames, in order, once: the stalled one first (flushed from the backlog), then
        # the one sent meanwhile (joined to it, or live if the new session was up by then).
        assert b"".join(base64.b64decode(a) for a in sent) == b"\x01" * 160 + b"\x02" * 160
        assert keeper.ready
    finally:
        reader.cancel()
        await keeper.close()


def closing_asked(session: FakeSession, closing: str) -> list[dict[str, Any]]:
    return [
        e for e in session.events_of("response.create")
        if fixed_line(e) == closing
    ]  # fmt: skip


async def test_a_wrap_up_while_a_new_session_is_being_set_up_still_gets_its_closing_line(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=math.inf)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_for(lambda: len(s1.responses) == 1 and s1.responses[0].done_at)
            bot_call = next(iter(b.app_state.services.active))
            keeper = bot_call.model
            fresh_session = keeper._replay
            wraps: list[asyncio.Task[None]] = []

            def replay_then_time_is_up(planned: bool) -> list[str]:
                """The time limit strikes just after the new session's replay was made."""
                events = fresh_session(planned)
                wraps.append(asyncio.ensure_future(bot_call.wrap_up("time_limit")))
                return events

            keeper._replay = replay_then_time_is_up
            await s1.close(1011, "gone")
            s2 = await b.vl.wait_for_session(2)
            closing = bot_call.profile.closing
            await s2.wait_for(lambda: closing_asked(s2, closing), timeout=3, what="the closing")
            updates = [e["session"] for e in s2.events_of("session.update")]
            assert {"turn_detection": None} in updates
            await asyncio.wait_for(wraps[0], 5)
            assert await call.wait_closed(timeout=8) == 1000
        assert len(closing_asked(s2, closing)) == 1
        assert s2.responses[-1].request == closing_asked(s2, closing)[0]
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "time_limit"


async def test_a_drop_while_the_closing_line_plays_leaves_the_new_session_without_turns(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(
        speed=math.inf,
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400 + 150 * i, 600 if i == 0 else 3000, audio.FORMAT_RATES[fmt], 0.3), fmt
        ),
    )
    async with bridge(tmp_path, fake) as b:
        profiles = b.app_state.services.profiles
        profiles["practice"] = dataclasses.replace(profiles["practice"], duration_min=0.03)
        async with await b.call(continuous=False) as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_for(lambda: len(s1.responses) == 2 and s1.responses[1].done_at, timeout=5)
            await s1.close(1011, "gone")  # the closing line is queued at Twilio, playing
            s2 = await b.vl.wait_for_session(2)
            await s2.wait_event("conversation.item.create")  # the replay
            await answer(call)  # "thanks, bye" over the goodbye
            assert await call.wait_closed(timeout=8) == 1000
        assert {"turn_detection": None} in [e["session"] for e in s2.events_of("session.update")]
        assert s2.responses == [] and s2.events_of("response.create") == []
        assert call.clears == [] and call.played_ms() >= 600 + 3000 - 200
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["end_reason"] == "time_limit"


async def test_a_drop_mid_answer_stops_its_old_audio_when_the_new_session_takes_over(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=4.0)  # the answer arrives 4x faster than played
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 300, timeout=5)
            assert s1.responses[0].done_at is None
            await s1.close(1011, "gone")
            s2 = await b.vl.wait_for_session(2)
            await s2.wait_for(lambda: len(s2.responses) == 1, timeout=5)
            await call.wait_for(lambda: call.clears, timeout=3, what="the old answer stopped")
            [clear] = call.clears
            assert clear.played_ms < 1000, "the caller did not hear all of the cut-off answer"
            await call.wait_for(lambda: call.played_ms() >= clear.played_ms + 1000, timeout=5)
            await call.hangup()

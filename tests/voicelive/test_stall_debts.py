"""What a session owes (bot/voicelive/stall.py) on a made-up clock, and the fake's stall."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from bot.voicelive import events as vl
from bot.voicelive.stall import OWED_S, Debts, Unconfirmed, loud
from tests.fakes import audio
from tests.fakes.voicelive import FakeVoiceLive

SPEECH = audio.encode(audio.tone(700, 20, 24000, 0.1), "pcm16")  # -23 dBFS: speech
HUM = audio.encode(audio.tone(50, 20, 24000, 0.005), "pcm16")  # -49 dBFS: line noise
SILENCE = bytes(960)


def test_loud_is_speech_level_audio_in_either_format() -> None:
    assert loud(SPEECH, ulaw=False) and not loud(HUM, ulaw=False) and not loud(SILENCE, ulaw=False)
    assert loud(audio.ulaw_tone(700, 20, 0.1), ulaw=True)
    assert not loud(b"\xff" * 160, ulaw=True) and not loud(b"", ulaw=True)


def test_quiet_caller_and_no_response_owe_nothing() -> None:
    debts = Debts(0.0, ulaw=False)
    for i in range(500):  # 10 s of silence and hum, no server event
        debts.sent_audio(SILENCE if i % 2 else HUM, i * 0.02)
    assert debts.overdue(10.0) is None


def test_caller_speech_is_owed_an_event_then_probed_again_after_a_pong() -> None:
    debts = Debts(0.0, ulaw=False)
    debts.sent_audio(SPEECH, 5.0)
    assert debts.overdue(5.0 + OWED_S - 0.01) is None
    assert debts.overdue(5.0 + OWED_S) == ("speech_started for caller speech", OWED_S)
    debts.answered(6.5)  # the pong: only quiet; the clock starts again
    assert debts.overdue(7.0) is None
    what, owed_s = debts.overdue(6.5 + OWED_S) or ("", 0.0)
    assert what.startswith("speech") and owed_s == pytest.approx(1.5 + OWED_S)
    debts.received(vl.SpeechStarted(5000, "item_1"), 8.0)  # paid
    assert debts.overdue(20.0) is None


def test_a_response_create_is_owed_response_created_then_events_until_done() -> None:
    debts = Debts(0.0, ulaw=False)
    debts.sent_event(vl.message("system", 'say "response.create"'), 1.0)  # not one
    assert debts.overdue(10.0) is None
    debts.sent_event(vl.response_create(), 1.0)
    assert debts.overdue(1.0 + OWED_S) == ("response.created", OWED_S)
    debts.received(vl.ResponseCreated("resp_1"), 2.0)
    assert debts.overdue(2.0 + OWED_S - 0.01) is None
    assert debts.overdue(2.0 + OWED_S) == ("events of the response in progress", OWED_S)
    debts.received(vl.AudioDelta("resp_1", "item_1", b"\0\0"), 3.0)
    assert debts.overdue(3.0 + OWED_S - 0.01) is None
    debts.received(vl.ResponseDone("resp_1", "completed", None), 3.5)
    assert debts.overdue(60.0) is None


def test_a_refused_response_create_is_not_owed_any_more() -> None:
    debts = Debts(0.0, ulaw=False)
    debts.sent_event(vl.response_create(), 1.0)
    debts.received(vl.ServerError("invalid_request_error", "x", "already active", None), 1.1)
    assert debts.overdue(60.0) is None


def test_unconfirmed_audio_is_bounded_and_taken_in_order() -> None:
    kept = Unconfirmed(max_bytes=5)
    for chunk in (b"ab", b"cd", b"ef"):
        kept.add(chunk)
    assert kept.bytes == 4 and kept.take() == [b"cd", b"ef"] and kept.bytes == 0


async def test_a_stalled_fake_session_answers_no_ping_and_sees_the_client_abort() -> None:
    async with FakeVoiceLive() as fake:
        headers = {"api-key": "test-key"}
        async with connect(fake.ws_url(), additional_headers=headers) as ws:
            session = await fake.wait_for_session(1)
            await ws.recv()  # session.created
            await asyncio.wait_for(await ws.ping(), 1)  # answered while healthy
            session.stall()
            await ws.send(vl.append_audio(SPEECH))
            pong = await ws.ping()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pong, 0.5)
            assert session.appended_audio == b"" and not session.closed.is_set()
            ws.transport.abort()
            await asyncio.wait_for(session.closed.wait(), 2)
            assert session.closed_at is not None

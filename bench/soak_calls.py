"""The soak's callers: calls back to back on each line, with turns, barge-ins and replies heard."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field

import httpx

from bench.bridge_load import AUTH_TOKEN, answer
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeVoiceLive

TURNS_PER_CALL = 8  # then the caller hangs up and the line places the next call
SPEECH_MS = 700  # one caller utterance (a loud tone: the fake's energy VAD hears it)
REPLY_MS = 3000  # every model reply: long enough to be still playing at a barge-in
BARGE_AFTER_MS = 800  # a barge-in starts after this much of the reply was received
PAUSE_S = 0.4  # between the end of a reply and the caller's next turn
HEARD_MIN_BYTES = 1600  # a reply counts as heard from 200 ms of bot audio (μ-law, 8 kHz)
HEARD_TIMEOUT_S = 10.0
SLOW_REPLY_S = 5.0  # a reply heard later than this counts as slow


@functools.cache
def _reply(fmt: str) -> bytes:
    return audio.encode(audio.tone(440.0, REPLY_MS, audio.FORMAT_RATES[fmt], 0.3), fmt)


def reply_audio(index: int, fmt: str) -> bytes:
    """Every model reply: the same 3 s tone (one shared bytes object)."""
    return _reply(fmt)


@functools.cache
def speech() -> bytes:
    return audio.ulaw_tone(300.0, SPEECH_MS, 0.5)


def fake_voice_live() -> FakeVoiceLive:
    """A model that speaks in real time and hears the caller by energy (turns and barge-ins)."""
    return FakeVoiceLive(
        response_audio=reply_audio,
        speed=1.0,
        energy_vad=True,
        check_contract=False,  # the test suite checks the contract; no one reads it here
    )


@dataclass
class Tally:
    """What every caller did and heard, over the whole soak."""

    calls: int = 0
    calls_failed: int = 0
    greetings: int = 0
    greetings_heard: int = 0
    turns: int = 0
    replies_heard: int = 0
    slow_replies: int = 0
    barge_ins: int = 0
    barge_ins_cleared: int = 0  # the bot sent <clear>: the caller stopped hearing the reply
    protocol_errors: int = 0
    reply_s: list[float] = field(default_factory=list)  # turn end -> first reply audio
    greeting_s: list[float] = field(default_factory=list)  # stream start -> first bot audio
    failures: list[str] = field(default_factory=list)


def _bytes_after(call: FakeTwilioCall, t: float) -> int:
    return sum(n for at, n in call.media_log if at > t)


def _first_after(call: FakeTwilioCall, t: float) -> float | None:
    return next((at for at, _ in call.media_log if at > t), None)


async def _until(predicate: object, timeout: float) -> bool:  # noqa: ASYNC109
    """Poll predicate() every 20 ms; whether it came true within timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _heard(call: FakeTwilioCall, since: float) -> bool:
    return await _until(lambda: _bytes_after(call, since) >= HEARD_MIN_BYTES, HEARD_TIMEOUT_S)


async def _reply_done(call: FakeTwilioCall) -> None:
    """Wait until the caller has heard the reply out (nothing queued, nothing new for 300 ms)."""
    loop = asyncio.get_running_loop()

    def quiet() -> bool:
        last = call.media_log[-1][0] if call.media_log else 0.0
        return call.buffered_ms() <= 0 and loop.time() - last > 0.3

    await _until(quiet, REPLY_MS / 1000 + 5)


async def _turn(call: FakeTwilioCall, barge: bool, after: float, tally: Tally) -> float:
    """One caller turn (over the reply to the turn that ended at `after`, if barge), whether
    its own reply was heard; returns when the caller stopped speaking."""
    loop = asyncio.get_running_loop()
    if barge:
        await _until(lambda: _bytes_after(call, after) >= BARGE_AFTER_MS * 8, 5.0)
    else:
        await _reply_done(call)
        await asyncio.sleep(PAUSE_S)
    clears = len(call.clears)
    await call.speak(speech())
    ended = loop.time()
    tally.turns += 1
    if barge:
        tally.barge_ins += 1
        tally.barge_ins_cleared += len(call.clears) > clears
    if await _heard(call, ended):
        tally.replies_heard += 1
        first = _first_after(call, ended)
        if first is not None:
            tally.reply_s.append(first - ended)
            tally.slow_replies += first - ended > SLOW_REPLY_S
    elif len(tally.failures) < 5:
        tally.failures.append(f"{call.call_sid}: turn {tally.turns} not heard")
    return ended


def _trim(call: FakeTwilioCall, keep_s: float = 10.0) -> None:
    """Drop what the fake call logs beyond the last seconds (the soak runs for minutes)."""
    horizon = asyncio.get_running_loop().time() - keep_s
    call.sent_events.clear()
    call.received_events.clear()
    call._received_audio.clear()
    del call._chunks[:-50]
    call.media_log[:] = [(at, n) for at, n in call.media_log if at > horizon]


async def one_call(client: httpx.AsyncClient, public: str, tally: Tally, stop_at: float) -> None:
    """A whole call: webhook, stream, greeting, turns (every other one a barge-in), hang-up."""
    loop = asyncio.get_running_loop()
    ws_url = public.replace("http://", "ws://") + "/twilio/media"
    call = FakeTwilioCall(ws_url, AUTH_TOKEN, continuous=True, open_timeout=30)
    tally.calls += 1
    try:
        stream_url, token = await answer(client, public, call.call_sid)
        call.custom_parameters["token"] = token
        call.signature_url = stream_url
        await call.connect()
        started = loop.time()
        await call.start()
        tally.greetings += 1
        if await _heard(call, 0.0):
            tally.greetings_heard += 1
            tally.greeting_s.append(call.media_log[0][0] - started)
        elif len(tally.failures) < 5:
            tally.failures.append(f"{call.call_sid}: no greeting ({call.describe()[:160]})")
        ended = 0.0
        for turn in range(TURNS_PER_CALL):
            if loop.time() >= stop_at or call.closed:
                break
            ended = await _turn(call, turn % 2 == 1, ended, tally)
            _trim(call)
        await _reply_done(call)
    except Exception as exc:  # counted and reported; the line goes on with another call
        tally.calls_failed += 1
        if len(tally.failures) < 5:
            tally.failures.append(f"{call.call_sid}: {type(exc).__name__}: {exc}"[:200])
    finally:
        tally.protocol_errors += len(call.protocol_errors)
        with contextlib.suppress(Exception):
            await call.hangup()
        with contextlib.suppress(Exception):
            await call.aclose()


async def line(client: httpx.AsyncClient, public: str, tally: Tally, stop_at: float) -> None:
    """Calls back to back until stop_at."""
    while asyncio.get_running_loop().time() < stop_at:
        await one_call(client, public, tally, stop_at)


async def janitor(fake: FakeVoiceLive) -> None:
    """Forget ended sessions and what live ones logged, so the fakes' memory stays flat."""
    while True:
        await asyncio.sleep(2.0)
        fake.sessions[:] = [s for s in fake.sessions if not s.closed.is_set()]
        fake.handshakes.clear()
        for session in fake.sessions:
            session.append_log.clear()
            session.received.clear()
            session.received_log.clear()
            session._appended.clear()
            session.events_sent.clear()

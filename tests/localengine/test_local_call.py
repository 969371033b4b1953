"""End to end over real sockets: softphone ⇄ bot ⇄ local engine, a whole interview offline."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import wave
from pathlib import Path

import numpy as np

from bot.interview.profiles import Question
from bot.softphone import CallReport, Options, run_call
from tests.support import make_settings, running_app, running_bot
from tests.support.bridge import wait_ended
from tests.support.interview import practice_profile

PRACTICE_PROFILE = practice_profile()


def call_in_own_loop(options: Options) -> CallReport:
    """The softphone runs in its own thread and event loop, like a separate process would."""
    return asyncio.run(run_call(options))


def speech_seconds(channel: np.ndarray) -> float:
    frames = channel[: channel.size // 160 * 160].astype(np.float64).reshape(-1, 160)
    return float(np.sum(np.sqrt(np.mean(frames**2, axis=1)) > 300)) * 0.02


async def test_two_question_interview_ends_by_itself(tmp_path: Path) -> None:
    settings = make_settings(tmp=tmp_path)
    assert settings.voice_live_endpoint is None  # the bot starts its local engine
    record = tmp_path / "call.wav"
    async with running_bot(settings) as base:
        options = Options(
            url=base,
            token=settings.twilio_auth_token,
            say=["Yes, I am ready.", "I built a billing system.", "We talked it through calmly."],
            record=record,
            timeout=60,
            out=io.StringIO(),
        )
        report = await asyncio.to_thread(call_in_own_loop, options)
    timeline = options.out.getvalue()  # type: ignore[union-attr]
    assert report.status == "completed" and report.exit_code == 0, report.reason + timeline
    assert len(report.caller_segments) == 3
    # the greeting (word for word, it ends "Are you ready?"), two questions, the goodbye
    assert len(report.bot_segments) == 4, timeline
    assert len(report.response_times_ms) == 3
    assert all(300 <= took <= 1500 for took in report.response_times_ms), timeline
    assert report.unplayed_ms == 0  # the goodbye played out before the bot hung up
    assert report.action_twiml is not None and "Hangup" in report.action_twiml
    assert not report.barge_ins and not report.warnings, timeline
    with wave.open(str(record)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    caller, bot = speech_seconds(frames[:, 0]), speech_seconds(frames[:, 1])
    assert caller >= 1.0 and bot >= 5.0
    # the bot is silent in the recording while the caller answers
    for start, end in report.caller_segments:
        window = frames[int(start * 8) : int(end * 8), 1]
        assert speech_seconds(window) == 0


async def test_barge_in_silences_the_bot_once_the_speech_is_real(tmp_path: Path) -> None:
    settings = make_settings(tmp=tmp_path)
    async with running_bot(settings) as base:
        options = Options(
            url=base,
            token=settings.twilio_auth_token,
            say=["Sorry, yes.", "I built a billing system.", "We talked it through."],
            barge_in_after=1.5,
            timeout=60,
            out=io.StringIO(),
        )
        report = await asyncio.to_thread(call_in_own_loop, options)
    timeline = options.out.getvalue()  # type: ignore[union-attr]
    assert report.exit_code == 0, report.reason + timeline
    assert len(report.barge_ins) == 1, timeline
    barge = report.barge_ins[0]
    # speech_duration_ms (250) of speech first, then at once (figures: bench/bargein.py)
    assert barge.silence_after_ms is not None and barge.silence_after_ms <= 600, timeline
    # the bot then carried on: both questions, then the goodbye
    assert len(report.bot_segments) == 4 and len(report.response_times_ms) == 3, timeline


async def test_timed_interview_ends_itself_at_its_limit(tmp_path: Path) -> None:
    # Six questions in 12 seconds: far too many; the bot stops at the limit with its closing line.
    closing = "We are out of time. Thank you, goodbye."
    profile = dataclasses.replace(
        PRACTICE_PROFILE,
        duration_min=0.2,
        questions=tuple(Question(f"Tell me about project number {n}.") for n in range(1, 7)),
        closing=closing,
    )
    settings = make_settings(tmp=tmp_path)
    async with running_app(settings) as (base, app):
        app.state.services.profiles["practice"] = profile
        options = Options(
            url=base,
            token=settings.twilio_auth_token,
            say=[f"It was a tool, number {n}." for n in range(1, 7)],
            timeout=40,
            out=io.StringIO(),
        )
        report = await asyncio.to_thread(call_in_own_loop, options)
        calls, _ = await app.state.store.list_calls(limit=1)
        record = await wait_ended(app.state.store, calls[0]["call_sid"])
    timeline = options.out.getvalue()  # type: ignore[union-attr]
    assert report.exit_code == 0 and report.unplayed_ms == 0, report.reason + timeline
    assert report.action_twiml is not None and "Hangup" in report.action_twiml
    assert record["end_reason"] == "time_limit", (record, timeline)
    # It ended near its limit (12 s, plus the turn in flight and the closing line), not after
    # all six questions, and the closing line was the last thing it said.
    assert 12 <= record["duration_s"] <= 25, timeline
    assert len(report.caller_segments) < 6, timeline
    bot_turns = [t for t in record["transcript"] if t["speaker"] == "bot"]
    assert bot_turns[-1]["text"] == closing, bot_turns


async def test_interview_goes_on_across_recycled_sessions(tmp_path: Path) -> None:
    # Sessions are recycled after 3 s: the interview crosses at least one, and the new session
    # (told the conversation so far) asks the next question, not the first one again.
    settings = make_settings(tmp=tmp_path, VOICE_LIVE_SESSION_MAX_S="3")
    async with running_app(settings) as (base, app):
        options = Options(
            url=base,
            token=settings.twilio_auth_token,
            say=["Yes.", "I built a billing system.", "We talked it through calmly."],
            timeout=60,
            out=io.StringIO(),
        )
        report = await asyncio.to_thread(call_in_own_loop, options)
        calls, _ = await app.state.store.list_calls(limit=1)
        record = await wait_ended(app.state.store, calls[0]["call_sid"])
    timeline = options.out.getvalue()  # type: ignore[union-attr]
    assert report.exit_code == 0 and report.unplayed_ms == 0, report.reason + timeline
    assert record["end_reason"] == "interview_finished"
    assert "session_recycled" in [e["code"] for e in record["errors"]], record["errors"]
    said = [t["text"] for t in record["transcript"] if t["speaker"] == "bot"]
    questions = [q.text for q in PRACTICE_PROFILE.questions]
    assert len(said) == 4 and said[0].startswith("Hello, thanks for calling."), "\n".join(said)
    assert questions[0] in said[1] and questions[1] in said[2], said
    assert said[3].endswith(PRACTICE_PROFILE.closing), said

"""The local engine's turn detection on a fake clock (the audio fed is the clock): how long
speech must last to start a turn, where the turn says it began, and what never starts one."""

from __future__ import annotations

import numpy as np
import pytest

from bot.localengine import audio, tts
from bot.localengine.vad import SpeechStarted, SpeechStopped, TurnDetector, VadEvent

RATE = 8000


def speech(text: str) -> np.ndarray:
    return audio.trim_silence(tts.synthesize(text, RATE), RATE)


def silence(ms: int) -> np.ndarray:
    return np.zeros(8 * ms, np.int16)


def run(detector: TurnDetector, samples: np.ndarray) -> list[tuple[int, VadEvent]]:
    """Feed 20 ms at a time; each event with the stream position (ms) it was reported at."""
    seen = []
    for start in range(0, samples.size, 160):
        for event in detector.feed(samples[start : start + 160]):
            seen.append((detector.position_ms, event))
    return seen


@pytest.mark.parametrize("duration_ms", [80, 250, 500])
def test_speech_starts_once_it_has_lasted_speech_duration_ms(duration_ms: int) -> None:
    detector = TurnDetector(prefix_padding_ms=0, speech_duration_ms=duration_ms)
    answer = speech("Actually, sorry to interrupt, I have a question.")
    events = run(detector, np.concatenate([silence(500), answer, silence(800)]))
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechStopped]
    reported_at, started = events[0]
    assert 480 <= started.audio_start_ms <= 540  # the real onset, however late the event
    waited = reported_at - started.audio_start_ms
    assert duration_ms <= waited <= duration_ms + 60  # 20 ms frames, a pause or two


def test_prefix_padding_moves_the_start_not_the_event() -> None:
    detector = TurnDetector(prefix_padding_ms=300, speech_duration_ms=250)
    events = run(detector, np.concatenate([silence(1000), speech("Hello there, I am Bob.")]))
    reported_at, started = events[0]
    assert isinstance(started, SpeechStarted)
    assert 680 <= started.audio_start_ms <= 740 and 1250 <= reported_at <= 1320


@pytest.mark.parametrize("cough_ms", [60, 150, 200])
def test_a_cough_shorter_than_speech_duration_ms_starts_nothing(cough_ms: int) -> None:
    burst = np.concatenate([silence(400), audio.cough(cough_ms, RATE), silence(1500)])
    assert run(TurnDetector(speech_duration_ms=250), burst) == []
    # The VAD does hear it: with the service's floor of 80 ms, a 150 ms cough is a turn.
    if cough_ms >= 150:
        heard = run(TurnDetector(speech_duration_ms=80), burst)
        assert [type(e) for _, e in heard] == [SpeechStarted, SpeechStopped]


def test_a_coughing_fit_is_speech() -> None:
    fit = np.concatenate([audio.cough(150, RATE, seed=s) for s in range(3)])  # 450 ms on end
    events = run(TurnDetector(speech_duration_ms=250), np.concatenate([silence(300), fit,
                                                                      silence(900)]))  # fmt: skip
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechStopped]


def test_a_hum_is_ignored_only_while_fillers_are() -> None:
    mm_hmm = np.concatenate([silence(400), audio.hum(400, RATE), silence(1200)])
    ignoring = TurnDetector(speech_duration_ms=250)
    ignoring.ignore_fillers = True
    assert run(ignoring, mm_hmm) == []
    # Longer than speech_duration_ms: without filler removal a hum is a turn like any other.
    events = run(TurnDetector(speech_duration_ms=250), mm_hmm)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechStopped]


def test_words_start_a_turn_while_fillers_are_ignored() -> None:
    detector = TurnDetector(prefix_padding_ms=0, speech_duration_ms=250)
    detector.ignore_fillers = True
    words = speech("Sorry, can I ask something?")
    events = run(detector, np.concatenate([silence(300), words, silence(800)]))
    reported_at, started = events[0]
    assert isinstance(started, SpeechStarted) and reported_at - started.audio_start_ms <= 310
    # "Mm, sorry, ...": the turn starts at the hum, once the words come.
    detector = TurnDetector(prefix_padding_ms=0, speech_duration_ms=250)
    detector.ignore_fillers = True
    events = run(detector, np.concatenate([silence(300), audio.hum(300, RATE), words]))
    reported_at, started = events[0]
    assert 280 <= started.audio_start_ms <= 320 and reported_at >= 600

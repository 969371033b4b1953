"""The recording's mixer on a fake clock: where each side's audio lands, and what a clear cuts."""

from __future__ import annotations

import numpy as np

from bot.recording.mixer import Mixer

T0 = 100.0
LOUD = b"\x20"  # a μ-law code far from silence


def channel(mixer: Mixer, now: float, index: int) -> np.ndarray:
    out = mixer.end(now)
    return out[:, index]


def test_caller_frames_follow_each_other_and_a_gap_is_placed_at_arrival() -> None:
    m = Mixer(T0)
    m.caller(T0 + 0.02, LOUD * 160)  # 0-20 ms
    m.caller(T0 + 0.05, LOUD * 160)  # 10 ms late (jitter): straight after, 20-40 ms
    m.caller(T0 + 1.02, LOUD * 160)  # after a gap of audio: at its arrival, 1000-1020 ms
    caller = channel(m, T0 + 1.1, 0)
    assert np.flatnonzero(caller).tolist() == [*range(0, 320), *range(8000, 8160)]


def test_bot_audio_plays_back_to_back_from_when_it_is_sent() -> None:
    m = Mixer(T0)
    m.bot(T0 + 0.5, LOUD * 800)  # 100 ms from 500 ms
    m.bot(T0 + 0.51, LOUD * 800)  # sent while the first plays: right after it, 600-700 ms
    bot = channel(m, T0 + 1.0, 1)
    assert np.flatnonzero(bot).tolist() == list(range(4000, 5600))


def test_a_clear_cuts_what_had_not_played() -> None:
    m = Mixer(T0)
    m.bot(T0 + 0.5, LOUD * 4000)  # 500 ms from 500 ms
    m.clear(T0 + 0.6)  # heard 100 ms of it
    m.bot(T0 + 0.8, LOUD * 800)  # the next answer, at 800 ms
    bot = channel(m, T0 + 1.0, 1)
    assert np.flatnonzero(bot).tolist() == [*range(4000, 4800), *range(6400, 7200)]


def test_the_end_cuts_what_the_caller_never_heard() -> None:
    m = Mixer(T0)
    m.bot(T0 + 0.1, LOUD * 8000)  # one second queued at the phone
    bot = channel(m, T0 + 0.3, 1)  # the call ends 200 ms into it
    assert np.flatnonzero(bot).tolist() == list(range(800, 2400))


def test_audio_is_handed_out_only_once_it_can_no_longer_change() -> None:
    m = Mixer(T0)
    m.caller(T0 + 0.02, LOUD * 160)
    m.bot(T0 + 1.0, LOUD * 8000)
    taken = m.take()  # up to 200 ms (HOLD) before the newest instant seen (1 s)
    assert len(taken) == 8000 - 1600
    m.clear(T0 + 1.1)  # cuts what is still held: the bot's 100 ms stay, the rest goes
    rest = m.end(T0 + 1.1)
    assert len(taken) + len(rest) == 8800
    assert np.flatnonzero(rest[:, 1]).tolist() == [i - 6400 for i in range(8000, 8800)]

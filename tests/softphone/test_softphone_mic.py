"""The softphone's microphone source, with a stand-in for the sounddevice module."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

from bot.__main__ import main
from bot.localengine.callclock import FRAME, Caller, Microphone


class FakeInputStream:
    opened: list[FakeInputStream] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.started = self.closed = False
        FakeInputStream.opened.append(self)

    def start(self) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True

    def deliver(self, samples: np.ndarray) -> None:
        """What PortAudio does from its own thread: hand a block to the callback."""
        self.kwargs["callback"](samples.reshape(-1, 1), samples.size, None, None)


@pytest.fixture
def sounddevice(monkeypatch: pytest.MonkeyPatch) -> type[FakeInputStream]:
    FakeInputStream.opened = []
    module = types.ModuleType("sounddevice")
    module.InputStream = FakeInputStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return FakeInputStream


def test_microphone_turns_device_blocks_into_20ms_frames(sounddevice: Any) -> None:
    mic = Microphone(8000)
    stream = sounddevice.opened[0]
    assert stream.started
    assert stream.kwargs["samplerate"] == 8000 and stream.kwargs["channels"] == 1
    assert stream.kwargs["dtype"] == "int16"
    assert np.array_equal(mic.frame(), np.zeros(FRAME, np.int16)), "silence until it delivers"
    voice = np.arange(400, dtype=np.int16)
    stream.deliver(voice[:100])
    stream.deliver(voice[100:250])
    stream.deliver(voice[250:])
    assert np.array_equal(mic.frame(), voice[:160])
    assert np.array_equal(mic.frame(), voice[160:320])
    last = mic.frame()
    assert np.array_equal(last[:80], voice[320:]) and not last[80:].any()
    for _ in range(500):  # a stalled reader never makes the capture buffer grow without bound
        stream.deliver(np.ones(FRAME, np.int16))
    assert len(mic._captured) <= 50
    mic.close()
    assert stream.closed


def test_caller_speaks_from_the_microphone(sounddevice: Any) -> None:
    mic = Microphone(8000)
    caller = Caller(None, [], mic)
    sounddevice.opened[0].deliver(np.full(FRAME, 1234, np.int16))
    assert (caller.frame() == 1234).all()


def test_softphone_without_a_microphone_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails, as with no module
    monkeypatch.chdir(tmp_path)
    assert main(["softphone", "--mic", "--url", "http://127.0.0.1:9"]) == 1
    assert "no microphone" in capsys.readouterr().err

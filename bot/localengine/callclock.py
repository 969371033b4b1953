"""What a caller hears over Twilio, tick by tick: the playout buffer and the call timeline."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from bot.localengine import audio

RATE = 8000
FRAME_MS = 20
FRAME = RATE * FRAME_MS // 1000  # samples (and μ-law bytes) per 20 ms
CALLER_HANGOVER_MS = 600  # quiet needed to end a caller segment on the timeline
BOT_HANGOVER_MS = 300  # quiet needed to end a bot segment on the timeline
EXIT_CODES = {"completed": 0, "error": 1, "refused": 2, "timeout": 3}


@dataclass
class BargeIn:
    """The caller started speaking at start_ms over the bot; its audio stopped at stop_ms."""

    start_ms: float
    stop_ms: float | None = None

    @property
    def silence_after_ms(self) -> float | None:
        return None if self.stop_ms is None else self.stop_ms - self.start_ms


@dataclass
class Burst:
    """A short sound from the caller (a cough, an "mm-hmm") at start_ms; cut_after_ms: when
    the bot's audio was cleared after it (None: the bot went on)."""

    kind: str
    start_ms: float
    ms: int
    over_bot: bool
    cut_after_ms: float | None = None


@dataclass
class CallReport:
    """How the call went, from the softphone's own clock (ms since the stream started)."""

    status: str = "in-progress"
    reason: str = ""
    response_times_ms: list[float] = field(default_factory=list)
    barge_ins: list[BargeIn] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    caller_segments: list[tuple[float, float]] = field(default_factory=list)
    bot_segments: list[tuple[float, float]] = field(default_factory=list)
    action_twiml: str | None = None
    unplayed_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def summary(self) -> str:
        """A closing paragraph for people."""
        lines = [f"call {self.status}: {self.reason}"]
        times = self.response_times_ms
        if times:
            lines.append(
                f"bot response times: {', '.join(f'{t:.0f}' for t in times)} ms "
                f"(median {float(np.median(times)):.0f} ms)"
            )
        for barge in self.barge_ins:
            took = barge.silence_after_ms
            lines.append(
                f"barge-in at {barge.start_ms / 1000:.2f} s: bot silent after "
                + ("never" if took is None else f"{took:.0f} ms")
            )
        for burst in self.bursts:
            cut = burst.cut_after_ms
            lines.append(
                f"{burst.kind} at {burst.start_ms / 1000:.2f} s ({burst.ms} ms"
                + (", over the bot): " if burst.over_bot else "): ")
                + ("bot not interrupted" if cut is None else f"bot cut off after {cut:.0f} ms")
            )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


class Playout:
    """Twilio's buffer for the app's audio: 20 ms per tick, marks echoed as their audio ends."""

    def __init__(self) -> None:
        self._queue: deque[bytes | str] = deque()
        self._passed: list[str] = []
        self.queued_bytes = 0

    def add_audio(self, data: bytes) -> None:
        if data:
            self._queue.append(data)
            self.queued_bytes += len(data)

    def add_mark(self, name: str) -> list[str]:
        """Queue a mark; returns it at once when nothing is queued before it."""
        if not self._queue:
            return [name]
        self._queue.append(name)
        return []

    def clear(self) -> list[str]:
        """Drop queued audio; every pending mark comes back at once."""
        marks = self._passed + [m for m in self._queue if isinstance(m, str)]
        self._queue.clear()
        self._passed, self.queued_bytes = [], 0
        return marks

    def tick(self) -> tuple[list[str], bytes | None]:
        """Marks whose audio finished by now, and the next 20 ms to play (None: nothing)."""
        passed, self._passed = self._passed, []
        while self._queue and isinstance(self._queue[0], str):
            passed.append(self._queue.popleft())  # type: ignore[arg-type]
        frame = b""
        while self._queue and len(frame) < FRAME:
            head = self._queue.popleft()
            if isinstance(head, str):
                self._passed.append(head)
                continue
            take = head[: FRAME - len(frame)]
            frame += take
            if len(take) < len(head):
                self._queue.appendleft(head[len(take) :])
        self.queued_bytes -= len(frame)
        while self._queue and isinstance(self._queue[0], str):
            self._passed.append(self._queue.popleft())  # type: ignore[arg-type]
        if not frame:
            return passed, None
        return passed, frame + bytes([audio.ULAW_SILENCE]) * (FRAME - len(frame))


class Timeline:
    """Who speaks when, response times and barge-ins, printed as they happen."""

    def __init__(self, report: CallReport, out: TextIO) -> None:
        self.report, self._out = report, out
        self.caller_start: float | None = None  # open caller segment
        self.caller_last_loud = -1e9
        self.bot_start: float | None = None  # open bot segment
        self.bot_last_played = -1e9
        self.caller_spoke = False  # since the bot last started a turn
        self.bot_spoke = False  # since the caller last started speaking
        self._barge: BargeIn | None = None

    def say(self, t_ms: float, who: str, text: str) -> None:
        print(f"{t_ms / 1000:8.2f}s  {who:<7} {text}", file=self._out, flush=True)

    def update(self, t: float, caller_loud: bool, bot_playing: bool) -> None:
        """Account for the 20 ms tick starting at t."""
        barge = self._barge
        if barge is not None and barge.stop_ms is None and not bot_playing:
            barge.stop_ms = t
            self.say(t, "bot", f"fell silent {t - barge.start_ms:.0f} ms after the barge-in")
        if caller_loud:
            if self.caller_start is None:
                self.caller_start, self.caller_spoke, self.bot_spoke = t, True, False
                over = bot_playing and self.bot_start is not None
                self.say(t, "caller", "speaks" + (" over the bot: BARGE-IN" if over else ""))
                if over:
                    self._barge = BargeIn(t)
                    self.report.barge_ins.append(self._barge)
            self.caller_last_loud = t + FRAME_MS
        elif self.caller_start is not None and t - self.caller_last_loud >= CALLER_HANGOVER_MS:
            self._end_caller_segment()
        if bot_playing:
            if self.bot_start is None:
                if self.caller_start is not None and not caller_loud:
                    self._end_caller_segment()  # the bot answered: the caller's turn is over
                self.bot_start, self.bot_spoke = t, True
                note = ""
                if self.caller_spoke and self.caller_last_loud <= t:
                    took = t - self.caller_last_loud
                    self.report.response_times_ms.append(took)
                    note = f" (response time {took:.0f} ms)"
                self.caller_spoke = False
                self.say(t, "bot", "speaks" + note)
            self.bot_last_played = t + FRAME_MS
        elif self.bot_start is not None and t - self.bot_last_played >= BOT_HANGOVER_MS:
            self.end_bot_segment()

    def burst(self, t: float, kind: str, ms: int, bot_playing: bool) -> None:
        """A cough or an "mm-hmm" begins (not a turn, not a barge-in: it is noted apart)."""
        self.report.bursts.append(Burst(kind, t, ms, bot_playing))
        self.say(t, "caller", f"{kind} ({ms} ms)" + (" over the bot" if bot_playing else ""))

    def cleared(self, t: float) -> None:
        """The bot's audio was cleared: was it because of a burst (within a second of it)?"""
        for burst in self.report.bursts:
            if (
                burst.cut_after_ms is None
                and burst.start_ms <= t <= burst.start_ms + burst.ms + 1000
            ):
                burst.cut_after_ms = t - burst.start_ms
                self.say(t, "bot", f"cut off {t - burst.start_ms:.0f} ms after the {burst.kind}")

    def _end_caller_segment(self) -> None:
        if self.caller_start is not None:
            start, end, self.caller_start = self.caller_start, self.caller_last_loud, None
            self.report.caller_segments.append((start, end))
            self.say(end, "caller", f"silent ({(end - start) / 1000:.1f} s)")

    def end_bot_segment(self) -> None:
        if self.bot_start is not None:
            end, start, self.bot_start = self.bot_last_played, self.bot_start, None
            self.report.bot_segments.append((start, end))
            self.say(end, "bot", f"silent ({(end - start) / 1000:.1f} s)")

    def bot_quiet_ms(self, t: float) -> float:
        return t - self.bot_last_played

    def bot_talking_ms(self, t: float) -> float:
        return 0.0 if self.bot_start is None else t - self.bot_start


class Microphone:
    """The caller's voice from the default input device (sounddevice, if installed, is optional)."""

    def __init__(self, rate: int) -> None:
        import sounddevice  # raises when the module, PortAudio or a device is missing

        self._captured: deque[np.ndarray] = deque(maxlen=50)  # 1 s at most: never grows
        self._buffer = np.zeros(0, np.int16)
        self._stream = sounddevice.InputStream(
            samplerate=rate, channels=1, dtype="int16", blocksize=FRAME, callback=self._capture
        )
        self._stream.start()

    def _capture(self, data: np.ndarray, _count: int, _time: object, _status: object) -> None:
        self._captured.append(np.array(data[:, 0], dtype=np.int16))

    def frame(self) -> np.ndarray:
        """The next 20 ms the microphone heard (silence if it has not delivered yet)."""
        while self._captured and self._buffer.size < FRAME:
            self._buffer = np.concatenate([self._buffer, self._captured.popleft()])
        out = np.zeros(FRAME, np.int16)
        part = self._buffer[:FRAME]
        out[: part.size] = part
        self._buffer = self._buffer[part.size :]
        return out

    def close(self) -> None:
        self._stream.close()


class Caller:
    """The caller's audio: a WAV from the start, one utterance per turn, or a microphone."""

    def __init__(
        self,
        wav: np.ndarray | None,
        utterances: list[np.ndarray],
        microphone: Microphone | None = None,
    ) -> None:
        self._current = wav if wav is not None else np.zeros(0, np.int16)
        self._pos = 0
        self.pending = deque(utterances)
        self.microphone = microphone

    @property
    def speaking(self) -> bool:
        return self._pos < self._current.size

    def start(self, utterance: np.ndarray) -> None:
        self._current, self._pos = utterance, 0

    def frame(self) -> np.ndarray:
        if self.microphone is not None and not self.speaking:
            return self.microphone.frame()
        out = np.zeros(FRAME, np.int16)
        part = self._current[self._pos : self._pos + FRAME]
        out[: part.size] = part
        self._pos += FRAME
        return out


class Speaker:
    """The bot's audio on the default sound device (sounddevice, if installed, is optional)."""

    def __init__(self, rate: int) -> None:
        import sounddevice  # raises when the module, PortAudio or a device is missing

        self._frames: deque[np.ndarray] = deque()
        self._stream = sounddevice.OutputStream(
            samplerate=rate, channels=1, dtype="int16", callback=self._feed
        )
        self._stream.start()

    def _feed(self, out: np.ndarray, count: int, _time: object, _status: object) -> None:
        data = np.concatenate(list(self._frames)) if self._frames else np.zeros(0, np.int16)
        self._frames.clear()
        out[:, 0] = 0
        out[: min(count, data.size), 0] = data[:count]
        if data.size > count:
            self._frames.append(data[count:])

    def play(self, frame: np.ndarray) -> None:
        self._frames.append(frame)

    def close(self) -> None:
        self._stream.close()

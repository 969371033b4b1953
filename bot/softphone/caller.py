"""The softphone's caller: when they speak or barge in, what they hear, what is recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.localengine import audio, tts
from bot.localengine.callclock import FRAME, RATE, Caller, Speaker, Timeline

LOUD_RMS = 300  # a caller frame above this counts as speech (about -40 dBFS)
TURN_GAP_MS = 500  # the caller answers once the bot has been quiet this long
CALLER_VOICE = tts.Voice("en-us+m3", rate=180)
BARGE_IN_PHRASE = "Actually, sorry to interrupt, I have a question."


BURSTS = ("cough", "mm-hmm")  # --cough (a noise burst), --hum (a closed-mouth murmur)


class MicrophoneUnavailable(RuntimeError):
    """--mic was asked for, but no microphone can be opened here."""


def _rms(frame: np.ndarray) -> float:
    return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))


def voice(text: str) -> np.ndarray:
    """The caller's voice saying `text`, silence trimmed."""
    return audio.trim_silence(tts.synthesize(text, RATE, CALLER_VOICE), RATE)


class CallerSide:
    """The caller's end of one call, a 20 ms frame at a time, on the stream's clock `t` (ms)."""

    def __init__(
        self,
        caller: Caller,
        barge_phrase: np.ndarray,
        timeline: Timeline,
        *,
        barge_in_after: float | None,
        speaker: bool,
        record: Path | None,
    ) -> None:
        self.caller, self._barge_phrase = caller, barge_phrase
        self.timeline = timeline
        self._barge_in_after = barge_in_after
        self._want_speaker = speaker
        self._record = record
        self._barged = False
        self._left: list[np.ndarray] = []
        self._right: list[np.ndarray] = []
        self._speaker: Speaker | None = None
        self._bursts: list[tuple[float, str, np.ndarray]] = []  # start ms, kind, samples
        self._voice_loud = False
        self._burst_started: tuple[str, int] | None = None

    def add_bursts(self, bursts: list[tuple[str, int, float]]) -> None:
        """Coughs and "mm-hmm"s to mix in: (kind, ms, at seconds on the stream clock)."""
        for kind, ms, at in bursts:
            if kind not in BURSTS:
                raise ValueError(f"unknown burst {kind!r}; known: {', '.join(BURSTS)}")
            n = len(self._bursts)  # each cough its own noise
            samples = audio.cough(ms, RATE, seed=n) if kind == "cough" else audio.hum(ms, RATE)
            self._bursts.append((at * 1000, kind, samples))
        self._bursts.sort(key=lambda burst: burst[0])

    def speak(self, t: float, bot_playing: bool) -> tuple[np.ndarray, bytes]:
        """The caller's next frame, as samples and as the μ-law payload sent to the bot."""
        self._take_turn(t, bot_playing)
        caller = self.caller.frame()
        self._voice_loud = _rms(caller) > LOUD_RMS
        self._burst_started = None
        for start, kind, samples in self._bursts:
            offset = round((t - start) * RATE / 1000)
            if 0 <= offset < samples.size:
                part = samples[offset : offset + FRAME].astype(np.int32)
                mixed = caller.astype(np.int32)
                mixed[: part.size] += part
                caller = np.clip(mixed, -32767, 32767).astype(np.int16)
                if offset == 0:
                    self._burst_started = (kind, samples.size * 1000 // RATE)
        return caller, audio.ulaw_encode(caller)

    def hear(self, t: float, caller: np.ndarray, payload: bytes, bot_frame: bytes | None) -> None:
        """After a frame: record both sides, play the bot, note who was talking."""
        bot_playing = bot_frame is not None
        heard_bot = audio.ulaw_decode(bot_frame) if bot_frame else np.zeros(FRAME, np.int16)
        self._left.append(audio.ulaw_decode(payload))
        self._right.append(heard_bot)
        if self._speaker is not None:
            self._speaker.play(heard_bot)
        if self._burst_started is not None:  # a cough is noted apart, not as the caller's turn
            self.timeline.burst(t, *self._burst_started, bot_playing)
        self.timeline.update(t, self._voice_loud, bot_playing)

    def _take_turn(self, t: float, bot_playing: bool) -> None:
        """Start the caller's next utterance: after the bot's turn, or over it on purpose."""
        line = self.timeline
        if self.caller.speaking:
            return
        after = self._barge_in_after
        if after is not None and not self._barged and line.bot_talking_ms(t) >= after * 1000:
            self._barged = True
            phrase = self.caller.pending.popleft() if self.caller.pending else self._barge_phrase
            self.caller.start(phrase)
        elif self.caller.pending and line.bot_spoke and line.bot_quiet_ms(t) >= TURN_GAP_MS:
            self.caller.start(self.caller.pending.popleft())

    def open_speaker(self) -> None:
        """With --speaker, play the bot on a sound device, if there is one."""
        if self._want_speaker:
            try:
                self._speaker = Speaker(RATE)
            except Exception as exc:  # no module, no library, no device: play nothing
                self.timeline.say(0, "speaker", f"unavailable ({type(exc).__name__}: {exc})")

    def finish(self, t: float) -> None:
        """The call is over: close the devices, write the --record file."""
        self.timeline.end_bot_segment()
        if self._speaker is not None:
            self._speaker.close()
            self._speaker = None
        if self.caller.microphone is not None:
            self.caller.microphone.close()
            self.caller.microphone = None
        if self._record and self._left:
            audio.write_wav(self._record, RATE, np.concatenate(self._left),
                            np.concatenate(self._right))  # fmt: skip
            self.timeline.say(t, "record", f"{self._record} (caller left, bot right)")
            self._left = []

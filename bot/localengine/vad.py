"""Server-side turn detection for the local engine: the WebRTC voice activity detector."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

from bot.localengine import audio

VAD_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = VAD_RATE * FRAME_MS // 1000


@dataclass(frozen=True)
class SpeechStarted:
    """The caller began speaking; audio_start_ms includes the prefix padding."""

    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """The caller stopped; audio_end_ms is where silence_duration_ms of quiet ran out."""

    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


def aggressiveness(threshold: float) -> int:
    """Map Voice Live's 0..1 threshold onto WebRTC VAD's modes 0..3 (0.5 -> 2)."""
    return max(0, min(3, int(threshold * 4)))


class InputDecoder:
    """Appended input audio (pcm16 at 8/16/24 kHz or G.711 μ-law) to 8 kHz int16 for the VAD."""

    def __init__(self, audio_format: str, sample_rate: int) -> None:
        if audio_format == "g711_ulaw":
            sample_rate = 8000
        elif audio_format != "pcm16":
            raise ValueError(f"unsupported input audio format {audio_format!r}")
        if sample_rate % VAD_RATE:
            raise ValueError(f"unsupported input sampling rate {sample_rate}")
        self.audio_format = audio_format
        self.sample_rate = sample_rate
        self._factor = sample_rate // VAD_RATE
        self._odd_byte = b""
        self._rest = np.zeros(0, np.int16)

    def bytes_to_ms(self, size: int) -> float:
        """Duration of size bytes of this input format, in milliseconds."""
        per_sample = 1 if self.audio_format == "g711_ulaw" else 2
        return size / per_sample / self.sample_rate * 1000

    def decode(self, data: bytes) -> np.ndarray:
        """Decode one append; returns whatever whole 8 kHz samples it completes."""
        if self.audio_format == "g711_ulaw":
            return audio.ulaw_decode(data)
        data = self._odd_byte + data
        cut = len(data) - len(data) % 2
        self._odd_byte = data[cut:]
        samples = np.concatenate([self._rest, np.frombuffer(data[:cut], "<i2")])
        usable = samples.size - samples.size % self._factor
        self._rest = samples[usable:]
        return audio.decimate(samples[:usable], self._factor)


class TurnDetector:
    """Feeds 8 kHz audio through WebRTC VAD in 20 ms frames and reports speech start and stop.

    Speech starts when onset_frames of the last five frames are voiced (start time: the first
    voiced frame among them, less prefix_padding_ms); it stops after silence_duration_ms of
    unvoiced frames, and audio_end_ms is that point (as Voice Live reports it, silence included).
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        onset_frames: int = 3,
    ) -> None:
        self._vad = webrtcvad.Vad(aggressiveness(threshold))
        self.prefix_padding_ms = prefix_padding_ms
        self._silence_frames = max(1, round(silence_duration_ms / FRAME_MS))
        self._onset_frames = max(1, min(5, onset_frames))
        self._window: deque[tuple[int, bool]] = deque(maxlen=5)
        self._pending = np.zeros(0, np.int16)
        self._frames = 0
        self._quiet = 0
        self.speaking = False

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio run through the detector so far."""
        return self._frames * FRAME_MS

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        """Run more 8 kHz samples through the detector."""
        events: list[VadEvent] = []
        buffer = np.concatenate([self._pending, samples.astype(np.int16, copy=False)])
        whole = buffer.size - buffer.size % FRAME_SAMPLES
        self._pending = buffer[whole:]
        for start in range(0, whole, FRAME_SAMPLES):
            frame = buffer[start : start + FRAME_SAMPLES]
            voiced = self._vad.is_speech(frame.tobytes(), VAD_RATE)
            event = self._step(voiced)
            if event is not None:
                events.append(event)
        return events

    def _step(self, voiced: bool) -> VadEvent | None:
        index = self._frames
        self._frames += 1
        self._window.append((index, voiced))
        if not self.speaking:
            voiced_frames = [i for i, v in self._window if v]
            if len(voiced_frames) >= self._onset_frames:
                self.speaking = True
                self._quiet = 0
                self._window.clear()
                start = voiced_frames[0] * FRAME_MS - self.prefix_padding_ms
                return SpeechStarted(max(0, start))
            return None
        self._quiet = 0 if voiced else self._quiet + 1
        if self._quiet >= self._silence_frames:
            self.speaking = False
            self._window.clear()
            return SpeechStopped(self.position_ms)
        return None

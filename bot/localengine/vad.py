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
SOUND_RMS = 150  # about -47 dBFS: quieter frames are no speech, whatever the VAD's hangover says
GAP_MS = 100  # a pause this long before speech has lasted speech_duration_ms: it never began
HUM_HF_SHARE = 0.1  # a frame with less of its energy above 1 kHz is a hum ("mm", "hmm")
ARTICULATED_FRAMES = 3  # with fillers ignored, speech needs this many frames that are no hum


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


def is_hum(frame: np.ndarray) -> bool:
    """A closed-mouth filler ("mm", "hmm", "mm-hmm"): a nasal murmur keeps almost all of its
    energy below 1 kHz; speech (vowels' upper formants, fricatives, bursts) and coughs do not."""
    spectrum = np.abs(np.fft.rfft(frame.astype(np.float64))) ** 2
    total = float(spectrum.sum())
    if total <= 0.0:
        return False
    high = float(spectrum[spectrum.size * 1000 // (VAD_RATE // 2) :].sum())
    return high / total < HUM_HF_SHARE


class TurnDetector:
    """Feeds 8 kHz audio through WebRTC VAD in 20 ms frames and reports speech start and stop.

    A frame is sound when the VAD calls it voiced and it is louder than SOUND_RMS (the VAD's
    own hangover keeps calling the quiet after a cough voiced). Speech starts once sound has
    lasted speech_duration_ms from its onset (pauses under GAP_MS do not break it; a longer
    one drops it: a cough) and onset_frames of the last five frames are sound; audio_start_ms
    is the onset, less prefix_padding_ms, however late the event. While `ignore_fillers` is
    set (remove_filler_words during a response), a hum does not count: speech also needs
    ARTICULATED_FRAMES frames that are not one. It stops after silence_duration_ms of
    unvoiced frames, and audio_end_ms is that point (as Voice Live reports it, silence
    included).
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        onset_frames: int = 3,
        speech_duration_ms: int = 0,
    ) -> None:
        self._vad = webrtcvad.Vad(aggressiveness(threshold))
        self.prefix_padding_ms = prefix_padding_ms
        self._silence_frames = max(1, round(silence_duration_ms / FRAME_MS))
        self._onset_frames = max(1, min(5, onset_frames))
        self.speech_duration_ms = speech_duration_ms
        self.ignore_fillers = False
        self._window: deque[tuple[int, bool]] = deque(maxlen=5)
        self._onset: int | None = None  # first sound frame of speech not yet started
        self._last_sound = 0
        self._articulated = 0
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
            event = self._step(voiced, frame)
            if event is not None:
                events.append(event)
        return events

    def _step(self, voiced: bool, frame: np.ndarray) -> VadEvent | None:
        index = self._frames
        self._frames += 1
        if not self.speaking:
            return self._onset_step(index, voiced, frame)
        self._quiet = 0 if voiced else self._quiet + 1
        if self._quiet >= self._silence_frames:
            self.speaking = False
            self._window.clear()
            return SpeechStopped(self.position_ms)
        return None

    def _onset_step(self, index: int, voiced: bool, frame: np.ndarray) -> VadEvent | None:
        x = frame.astype(np.float64)
        sound = voiced and float(np.dot(x, x)) >= SOUND_RMS * SOUND_RMS * frame.size
        self._window.append((index, sound))
        if sound:
            if self._onset is None:
                self._onset, self._articulated = index, 0
            self._last_sound = index
            if not self.ignore_fillers or not is_hum(frame):
                self._articulated += 1
        elif self._onset is not None and (index - self._last_sound) * FRAME_MS >= GAP_MS:
            self._onset = None  # too short to be speech: a cough, a click
        if not sound or self._onset is None:
            return None
        lasted = (index + 1 - self._onset) * FRAME_MS
        recent = sum(1 for _, s in self._window if s)
        if lasted < self.speech_duration_ms or recent < self._onset_frames:
            return None
        if self.ignore_fillers and self._articulated < ARTICULATED_FRAMES:
            return None  # only a hum so far
        onset, self._onset = self._onset, None
        self.speaking = True
        self._quiet = 0
        self._window.clear()
        return SpeechStarted(max(0, onset * FRAME_MS - self.prefix_padding_ms))

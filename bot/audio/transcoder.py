"""Transcoders the call bridge uses: caller μ-law to the model's format and back."""

from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

import numpy as np

from bot.audio.resample import PCM16LE_BY_INDEX, ULAW_BY_INDEX, Downsampler, Upsampler


@runtime_checkable
class Transcoder(Protocol):
    """What the bridge uses: caller audio to model format, model audio to caller format."""

    model_format: str  # "pcm16" or "g711_ulaw": Voice Live input/output_audio_format

    def inbound(self, mulaw: bytes) -> bytes:
        """Twilio μ-law 8 kHz -> model audio bytes."""
        ...

    def outbound(self, audio: bytes) -> bytes:
        """Model audio bytes (any length) -> μ-law 8 kHz."""
        ...

    def reset_outbound(self) -> None:
        """Barge-in: forget the outbound state."""
        ...


class PcmTranscoder:
    """AUDIO_FORMAT=pcm16: μ-law 8 kHz <-> pcm16 little-endian 24 kHz."""

    model_format: str = "pcm16"

    def __init__(self) -> None:
        self._up = Upsampler()
        self._down = Downsampler()
        self._odd_byte = b""

    def inbound(self, mulaw: bytes) -> bytes:
        return PCM16LE_BY_INDEX.take(self._up._filter_ulaw(mulaw), mode="clip").tobytes()

    def outbound(self, audio: bytes) -> bytes:
        if self._odd_byte:
            audio = self._odd_byte + audio
            self._odd_byte = b""
        view = memoryview(audio)
        if len(view) % 2:
            self._odd_byte = bytes(view[-1:])
            view = view[:-1]
        index = self._down._filter(np.frombuffer(view, dtype="<i2"))
        return ULAW_BY_INDEX.take(index, mode="clip").tobytes()

    def reset_outbound(self) -> None:
        self._down.reset()
        self._odd_byte = b""


class PassthroughTranscoder:
    """AUDIO_FORMAT=g711_ulaw: μ-law both ways, bytes untouched."""

    model_format: str = "g711_ulaw"

    def inbound(self, mulaw: bytes) -> bytes:
        return bytes(mulaw)

    def outbound(self, audio: bytes) -> bytes:
        return bytes(audio)

    def reset_outbound(self) -> None:
        return None


_TRANSCODERS: Final[dict[str, Callable[[], Transcoder]]] = {
    "pcm16": PcmTranscoder,
    "g711_ulaw": PassthroughTranscoder,
}


def make_transcoder(audio_format: str) -> Transcoder:
    """The transcoder for an AUDIO_FORMAT value: "pcm16" or "g711_ulaw"."""
    try:
        return _TRANSCODERS[audio_format]()
    except KeyError:
        raise ValueError(
            f"unknown audio format {audio_format!r}: expected one of {', '.join(_TRANSCODERS)}"
        ) from None

"""Telephone audio path: G.711 μ-law codec, 8 <-> 24 kHz streaming resamplers, transcoders."""

from bot.audio.g711 import FRAME_BYTES, ULAW_SILENCE, pcm16_to_ulaw, ulaw_to_pcm16
from bot.audio.resample import Downsampler, Upsampler
from bot.audio.transcoder import (
    PassthroughTranscoder,
    PcmTranscoder,
    Transcoder,
    make_transcoder,
)

__all__ = [
    "FRAME_BYTES",
    "ULAW_SILENCE",
    "Downsampler",
    "PassthroughTranscoder",
    "PcmTranscoder",
    "Transcoder",
    "Upsampler",
    "make_transcoder",
    "pcm16_to_ulaw",
    "ulaw_to_pcm16",
]

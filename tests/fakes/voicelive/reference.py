"""What the fake Voice Live knows from the reference: the endpoint path, formats, turn
detection types, transcription models per realtime model, a fresh session's settings, and
the default content (tones and texts) of responses and caller turns."""

from __future__ import annotations

import secrets
from typing import Any

from tests.fakes import audio

REALTIME_PATH = "/voice-live/realtime"
MAX_APPEND_BYTES = 15 * 2**20  # "One append may carry up to 15 MiB"
INPUT_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
OUTPUT_FORMATS = tuple(audio.FORMAT_RATES)
TURN_DETECTION_TYPES = ("server_vad", "azure_semantic_vad", "azure_semantic_vad_multilingual")
# input_audio_transcription models by realtime model (the reference: "which models are allowed
# DEPENDS ON THE REALTIME MODEL of the session")
OPENAI_TRANSCRIPTION_MODELS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
    "mai-transcribe",
)
AZURE_TRANSCRIPTION_MODELS = ("azure-speech",)
PRE_GENERATED_MIN_MS = 300

# Effective settings of a fresh session. Values the docs give are used; the rest are marked.
DEFAULT_SESSION: dict[str, Any] = {
    "modalities": ["text", "audio"],
    "instructions": "",
    "voice": "alloy",  # unconfirmed default
    "input_audio_format": "pcm16",
    "input_audio_sampling_rate": 24000,
    "output_audio_format": "pcm16",
    "turn_detection": {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 0,  # not documented; 0 so audio_start_ms is the onset itself
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
        "auto_truncate": False,
    },
    "input_audio_noise_reduction": None,
    "input_audio_echo_cancellation": None,
    "input_audio_transcription": None,
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": "inf",
}


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(10)


def default_response_audio(index: int, fmt: str) -> bytes:
    """1.5 s sine at 400 + 150*index Hz, amplitude 0.3, in `fmt` at that format's rate."""
    rate = audio.FORMAT_RATES[fmt]
    return audio.encode(audio.tone(400.0 + 150.0 * index, 1500, rate, 0.3), fmt)


def default_response_text(index: int) -> str:
    return f"This is assistant response {index}."


def default_caller_transcript(index: int) -> str:
    return f"caller utterance {index}"


def is_openai_realtime(model: str | None) -> bool:
    """gpt-realtime, gpt-realtime-mini and other OpenAI realtime models (not cascaded models
    such as gpt-4.1 or phi4-mini, nor agents)."""
    return bool(model) and (model.startswith("gpt-realtime") or "realtime" in model)


def transcription_models(model: str | None) -> tuple[str, ...]:
    """The input_audio_transcription models a session with this realtime model accepts."""
    return OPENAI_TRANSCRIPTION_MODELS if is_openai_realtime(model) else AZURE_TRANSCRIPTION_MODELS


def spoken_audio(text: str, index: int, fmt: str, ms_per_char: float = 60.0) -> bytes:
    """Synthetic speech for a fixed text: the tone of default_response_audio(index), lasting
    ms_per_char per character (at least PRE_GENERATED_MIN_MS)."""
    rate = audio.FORMAT_RATES[fmt]
    ms = max(PRE_GENERATED_MIN_MS, round(ms_per_char * len(text)))
    return audio.encode(audio.tone(400.0 + 150.0 * index, ms, rate, 0.3), fmt)

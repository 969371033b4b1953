"""Fake Azure Voice Live realtime server (OpenAI Realtime preview events) built from the docs,
split by concept: the endpoint (server), one connection (session), session configuration
(config), the input buffer and conversation items (items), caller turns (vad), responses
(responses) and what they say (output), and what the reference fixes (reference)."""

from .reference import (
    AZURE_TRANSCRIPTION_MODELS,
    DEFAULT_SESSION,
    INPUT_FORMATS,
    MAX_APPEND_BYTES,
    OPENAI_TRANSCRIPTION_MODELS,
    OUTPUT_FORMATS,
    PRE_GENERATED_MIN_MS,
    REALTIME_PATH,
    TURN_DETECTION_TYPES,
    default_caller_transcript,
    default_response_audio,
    default_response_text,
    is_openai_realtime,
    spoken_audio,
    transcription_models,
)
from .responses import FakeResponse
from .server import FakeVoiceLive, Handshake
from .session import FakeSession

__all__ = [
    "AZURE_TRANSCRIPTION_MODELS",
    "DEFAULT_SESSION",
    "INPUT_FORMATS",
    "MAX_APPEND_BYTES",
    "OPENAI_TRANSCRIPTION_MODELS",
    "OUTPUT_FORMATS",
    "PRE_GENERATED_MIN_MS",
    "REALTIME_PATH",
    "TURN_DETECTION_TYPES",
    "FakeResponse",
    "FakeSession",
    "FakeVoiceLive",
    "Handshake",
    "default_caller_transcript",
    "default_response_audio",
    "default_response_text",
    "is_openai_realtime",
    "spoken_audio",
    "transcription_models",
]

"""Offline text-to-speech: eSpeak NG from the espeakng-loader wheel, driven through ctypes."""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.localengine import audio

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_INIT_DONT_EXIT = 0x8000

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class TTSError(RuntimeError):
    """The speech engine could not be loaded or failed to speak."""


@dataclass(frozen=True)
class Voice:
    """An eSpeak NG voice: name (like "en-us"), words per minute and base pitch (0-100)."""

    name: str = "en-us"
    rate: int = 175
    pitch: int = 50


class _ESpeak:
    """The one process-wide eSpeak NG instance (the library is global state, not thread-safe)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise TTSError("espeakng-loader is not installed") from exc
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data_path = espeakng_loader.get_data_path().encode()
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INIT_DONT_EXIT)
        if self.rate <= 0:
            raise TTSError(f"eSpeak NG failed to initialise (code {self.rate})")
        self._chunks: list[np.ndarray] = []
        self._callback = _Callback(self._on_audio)  # keep a reference for the C side
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: Voice | None = None

    def _on_audio(self, wav: Any, count: int, _events: int) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def speak(self, text: str, voice: Voice) -> np.ndarray:
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise TTSError(f"eSpeak NG has no voice {voice.name!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, voice.rate, 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, voice.pitch, 0)
            self._voice = voice
        self._chunks = []
        encoded = text.encode()
        status = self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise TTSError(f"eSpeak NG failed to speak (code {status})")
        self._lib.espeak_Synchronize()
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


_engine: _ESpeak | None = None
_lock = threading.Lock()


def synthesize(text: str, rate: int, voice: Voice | None = None) -> np.ndarray:
    """Speak text as mono int16 samples at the given sample rate (blocking, thread-safe)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = _ESpeak()
        samples = _engine.speak(text, voice or Voice())
        native_rate = _engine.rate
    return audio.resample(samples, native_rate, rate)

"""Audio helpers for the fakes: G.711 μ-law/A-law codecs, PCM16, tones and measurements."""

from __future__ import annotations

import numpy as np

# Sample rate of each Voice Live audio format name (input and output names share this table).
FORMAT_RATES: dict[str, int] = {
    "pcm16": 24000,
    "pcm16_8000hz": 8000,
    "pcm16_16000hz": 16000,
    "g711_ulaw": 8000,
    "g711_alaw": 8000,
}

ULAW_SILENCE = b"\xff"  # μ-law code for 0 (0x7f decodes to -0)
MULAW_RATE = 8000

# G.711 μ-law: magnitude plus bias 0x84, 8 segments, 4-bit mantissa, all bits inverted.
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635
_ULAW_SEGMENT_LIMITS = np.array([256, 512, 1024, 2048, 4096, 8192, 16384])
# G.711 A-law: 13-bit magnitude, 8 segments, 4-bit mantissa, even bits inverted (xor 0x55).
_ALAW_SEGMENT_LIMITS = np.array([32, 64, 128, 256, 512, 1024, 2048])


def _to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] (or int16 already) -> int16."""
    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        return arr
    return np.clip(np.round(arr.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def _to_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float64) / 32768.0


def linear_to_ulaw(pcm: np.ndarray) -> bytes:
    """int16 samples -> μ-law bytes (G.711)."""
    x = np.asarray(pcm, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    # G.711 takes the one's complement of negative samples: magnitude of -x - 1.
    magnitude = np.minimum(np.where(x < 0, ~x, x), _ULAW_CLIP) + _ULAW_BIAS
    exponent = np.searchsorted(_ULAW_SEGMENT_LIMITS, magnitude, side="right")
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def _build_ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_ULAW_TABLE = _build_ulaw_table()


def ulaw_to_linear(data: bytes) -> np.ndarray:
    """μ-law bytes -> int16 samples."""
    return _ULAW_TABLE[np.frombuffer(data, dtype=np.uint8)]


def linear_to_alaw(pcm: np.ndarray) -> bytes:
    """int16 samples -> A-law bytes (G.711)."""
    x = np.asarray(pcm, dtype=np.int32)
    sign = np.where(x >= 0, 0x80, 0x00)
    magnitude = np.where(x < 0, ~x, x) >> 3  # 13-bit magnitude, one's complement if negative
    exponent = np.searchsorted(_ALAW_SEGMENT_LIMITS, magnitude, side="right")
    mantissa = np.where(exponent == 0, magnitude >> 1, magnitude >> np.maximum(exponent, 1)) & 0x0F
    code = (sign | (exponent << 4) | mantissa) ^ 0x55
    return code.astype(np.uint8).tobytes()


def _build_alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_ALAW_TABLE = _build_alaw_table()


def alaw_to_linear(data: bytes) -> np.ndarray:
    """A-law bytes -> int16 samples."""
    return _ALAW_TABLE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] -> μ-law bytes."""
    return linear_to_ulaw(_to_int16(samples))


def ulaw_decode(data: bytes) -> np.ndarray:
    """μ-law bytes -> float samples in [-1, 1)."""
    return _to_float(ulaw_to_linear(data))


def pcm16_encode(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] -> PCM16 little-endian bytes."""
    return _to_int16(samples).astype("<i2").tobytes()


def pcm16_decode(data: bytes) -> np.ndarray:
    """PCM16 little-endian bytes -> float samples (a trailing odd byte is ignored)."""
    usable = len(data) - (len(data) % 2)
    return _to_float(np.frombuffer(data[:usable], dtype="<i2"))


def encode(samples: np.ndarray, fmt: str) -> bytes:
    """Float samples (already at the format's rate) -> bytes in a Voice Live format."""
    if fmt == "g711_ulaw":
        return ulaw_encode(samples)
    if fmt == "g711_alaw":
        return linear_to_alaw(_to_int16(samples))
    if fmt in FORMAT_RATES:
        return pcm16_encode(samples)
    raise ValueError(f"unknown audio format {fmt!r}")


def decode(data: bytes, fmt: str) -> np.ndarray:
    """Bytes in a Voice Live format -> float samples at that format's rate."""
    if fmt == "g711_ulaw":
        return ulaw_decode(data)
    if fmt == "g711_alaw":
        return _to_float(alaw_to_linear(data))
    if fmt in FORMAT_RATES:
        return pcm16_decode(data)
    raise ValueError(f"unknown audio format {fmt!r}")


def bytes_per_ms(fmt: str, rate: int | None = None) -> int:
    """Bytes of audio per millisecond for a format (PCM16: 2 bytes/sample; G.711: 1)."""
    rate = rate or FORMAT_RATES[fmt]
    width = 1 if fmt.startswith("g711") else 2
    return rate * width // 1000


def tone(freq_hz: float, ms: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone as float samples."""
    n = round(rate * ms / 1000)
    t = np.arange(n) / rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def ulaw_tone(freq_hz: float = 440.0, ms: float = 1000, amplitude: float = 0.3) -> bytes:
    """A μ-law 8 kHz sine tone: what a caller's voice looks like to the tests."""
    return ulaw_encode(tone(freq_hz, ms, MULAW_RATE, amplitude))


def ulaw_silence(ms: float) -> bytes:
    """μ-law 8 kHz digital silence (0xFF)."""
    return ULAW_SILENCE * round(ms * 8)


def rms(samples: np.ndarray) -> float:
    """Root mean square of float samples (0 for an empty array)."""
    arr = np.asarray(samples, dtype=np.float64)
    return float(np.sqrt(np.mean(arr * arr))) if arr.size else 0.0


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin, Hann-windowed; 0 for fewer than 2 samples."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size < 2:
        return 0.0
    spectrum = np.abs(np.fft.rfft(arr * np.hanning(arr.size)))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * rate / arr.size)

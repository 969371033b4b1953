"""G.711 μ-law codec: bit-exact lookup tables and the encode/decode functions."""

from typing import Final

import numpy as np
import numpy.typing as npt

ULAW_SILENCE: int = 0xFF  # μ-law byte for zero
FRAME_BYTES: int = 160  # 20 ms of μ-law at 8 kHz

# G.711 μ-law, as lookup tables built from the segment/mantissa definition.
# The encoder works on 14-bit magnitudes (the 16-bit sample shifted right by two,
# rounding towards minus infinity, as audioop does), biased by 33 so that the
# segment is the position of the leading one bit.

_ULAW_BIAS: Final = 33
_ULAW_MAX_BIASED: Final = 0x1FFF  # largest biased magnitude: segment 7, mantissa 15


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0xFF  # codes are transmitted inverted
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((2 * mantissa + _ULAW_BIAS) << segment) - _ULAW_BIAS) * 4  # back to 16 bits
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    # Index i is the int16 sample whose bit pattern, read as uint16, equals i.
    sample = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)
    value = sample >> 2
    negative = value < 0
    biased = np.minimum(np.abs(value) + _ULAW_BIAS, _ULAW_MAX_BIASED)
    # segment s holds biased magnitudes in [32 << s, 64 << s)
    segment = np.zeros_like(biased)
    for s in range(1, 8):
        segment += biased >= (32 << s)
    mantissa = (biased >> (segment + 1)) & 0x0F
    code = np.where(negative, 0x80, 0) | (segment << 4) | mantissa
    return (code ^ 0xFF).astype(np.uint8)


ULAW_TO_PCM: Final = _ulaw_decode_table()
PCM_TO_ULAW: Final = _ulaw_encode_table()


def ulaw_to_pcm16(data: bytes) -> npt.NDArray[np.int16]:
    """Decode μ-law bytes to int16 samples (G.711, bit-exact)."""
    return ULAW_TO_PCM.take(np.frombuffer(data, dtype=np.uint8))


def pcm16_to_ulaw(samples: npt.ArrayLike) -> bytes:
    """Encode samples to μ-law bytes (G.711, bit-exact).

    int16 is the native input; wider integers are saturated to the int16 range first,
    floats are rounded to the nearest integer and saturated.
    """
    pcm = np.asarray(samples)
    if pcm.dtype != np.int16:
        if pcm.dtype.kind == "f":
            pcm = np.rint(pcm)
        elif pcm.dtype.kind not in "iub":
            raise TypeError(f"pcm16_to_ulaw needs integer samples, got {pcm.dtype}")
        pcm = np.clip(pcm, -32768, 32767).astype(np.int16)
    return PCM_TO_ULAW.take(pcm.reshape(-1).view(np.uint16)).tobytes()

"""Pure audio helpers for the local engine and the softphone: G.711 μ-law, resampling, WAV."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from bot.audio import ULAW_SILENCE as ULAW_SILENCE
from bot.audio import pcm16_to_ulaw, ulaw_to_pcm16

# The G.711 codec is the bridge's own (bit-exact, tested in tests/audio/test_audio.py).
ulaw_decode = ulaw_to_pcm16
ulaw_encode = pcm16_to_ulaw


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of a whole int16 buffer (FFT method), int16 out."""
    samples = np.asarray(samples, dtype=np.int16)
    if rate_in == rate_out or samples.size == 0:
        return samples.copy()
    n_out = round(samples.size * rate_out / rate_in)
    pad = int(rate_in * 0.05)  # soften the wrap-around at the edges
    padded = np.concatenate(
        [np.zeros(pad, np.float64), samples.astype(np.float64), np.zeros(pad, np.float64)]
    )
    spectrum = np.fft.rfft(padded)
    n_padded_out = round(padded.size * rate_out / rate_in)
    bins = n_padded_out // 2 + 1
    if bins <= spectrum.size:
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - spectrum.size, complex)])
    out = np.fft.irfft(spectrum, n_padded_out) * (n_padded_out / padded.size)
    start = round(pad * rate_out / rate_in)
    out = out[start : start + n_out]
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def decimate(samples: np.ndarray, factor: int) -> np.ndarray:
    """Cheap streaming-friendly downsampling by an integer factor (box filter), int16 out."""
    samples = np.asarray(samples, dtype=np.int16)
    if factor == 1:
        return samples
    usable = samples.size - samples.size % factor
    blocks = samples[:usable].astype(np.int32).reshape(-1, factor)
    averaged: np.ndarray = (blocks.sum(axis=1) // factor).astype(np.int16)
    return averaged


def trim_silence(samples: np.ndarray, rate: int, level: int = 300) -> np.ndarray:
    """Drop leading and trailing near-silence (peak below level), keeping 10 ms margins."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= level)
    if loud.size == 0:
        return samples[:0]
    margin = rate // 100
    return samples[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def read_wav_mono(path: Path | str, rate: int) -> np.ndarray:
    """A PCM WAV file (8/16/32-bit, any rate, any channels) as mono int16 at rate."""
    with wave.open(str(path), "rb") as wav:
        width = wav.getsampwidth()
        channels = wav.getnchannels()
        source_rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.int32)
    elif width == 4:
        data = np.frombuffer(raw, "<i4").astype(np.int64) >> 16
    else:
        raise ValueError(f"{path}: unsupported sample width {width} bytes")
    mono = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return resample(mono, source_rate, rate)


def write_wav(path: Path | str, rate: int, *channels: np.ndarray) -> None:
    """Write int16 channels (padded to the longest) as one PCM WAV file."""
    length = max((c.size for c in channels), default=0)
    frames = np.zeros((length, len(channels)), np.int16)
    for index, channel in enumerate(channels):
        frames[: channel.size, index] = channel
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames.astype("<i2").tobytes())


def cough(ms: int, rate: int, level: float = 0.15, seed: int = 0) -> np.ndarray:
    """A cough: a burst of broadband noise, sharp attack, decaying (level: RMS of full scale)."""
    n = rate * ms // 1000
    noise = np.random.default_rng(seed).normal(0.0, 1.0, n)
    t = np.arange(n) / rate
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / max(ms / 1000, 0.02) * 1.5)
    shaped = noise * envelope
    rms = float(np.sqrt(np.mean(shaped**2))) or 1.0
    return np.clip(shaped / rms * level * 32767, -32767, 32767).astype(np.int16)


def hum(ms: int, rate: int, level: float = 0.12) -> np.ndarray:
    """A closed-mouth "mm-hmm": a nasal murmur (a 115 Hz voice with a little vibrato, energy
    below about 1 kHz), two parts with a dip between them, the second rising in pitch."""
    n = rate * ms // 1000
    if n == 0:
        return np.zeros(0, np.int16)
    t = np.arange(n) / rate
    where = np.arange(n) / n
    f0 = np.where(where < 0.5, 115.0, 115.0 + 40.0 * (where - 0.5)) + 8 * np.sin(
        2 * np.pi * 5.5 * t
    )
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k**2 for k in range(1, 7))  # steep tilt: a nasal murmur
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    dip = 1.0 - 0.8 * np.exp(-(((where - 0.45) / 0.05) ** 2))  # "mm" - "hmm"
    syllabic = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2  # a voice never holds still
    shaped = voice * ramp * dip * syllabic
    rms = float(np.sqrt(np.mean(shaped**2))) or 1.0
    return np.clip(shaped / rms * level * 32767, -32767, 32767).astype(np.int16)

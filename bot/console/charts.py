"""Server-drawn SVG for the console: the usage chart and a recording's waveform."""

from __future__ import annotations

import io
import struct
from html import escape
from typing import Any

import numpy as np

PALETTE = ("#1f5fa8", "#b3541e", "#2e7d32", "#6a3d9a", "#8a6d00", "#0e7c86", "#a2185b")


def usage_chart(
    rows: list[dict[str, Any]], measure: str, label: str, days: list[str] | None = None
) -> str:
    """Stacked bars: one per day (every day of `days`, empty ones too), one colour per
    profile, of `measure` (calls, cost_usd …)."""
    days = days or sorted({r["day"] for r in rows})
    profiles = sorted({r["profile"] for r in rows})
    if not rows:
        return '<p class="empty">No calls in this range.</p>'
    totals = {d: sum(r[measure] for r in rows if r["day"] == d) for d in days}
    top = max(*totals.values(), 1e-9)
    width, height, left, bottom = 960, 240, 70, 40
    slot = (width - left - 10) / len(days)
    bar = max(min(slot * 0.7, 60), 2)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 30}" role="img" '
        f'aria-label="{escape(label)} per day, by profile" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="4" y="14" class="tl-axis">{escape(label)}</text>',
        f'<text x="{left - 6}" y="24" class="tl-axis" text-anchor="end">{top:,.4g}</text>',
        f'<line class="tl-tick" x1="{left}" x2="{width - 10}" y1="{height - bottom}" '
        f'y2="{height - bottom}"/>',
    ]
    scale = (height - bottom - 20) / top
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        y = height - bottom
        for p, profile in enumerate(profiles):
            value = sum(r[measure] for r in rows if r["day"] == day and r["profile"] == profile)
            if not value:
                continue
            h = value * scale
            y -= h
            what = f"{day} {profile}: {value:,.4g}"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[p % len(PALETTE)]}"><title>{escape(what)}</title>'
                         '</rect>')  # fmt: skip
        if len(days) <= 16 or i % max(len(days) // 12, 1) == 0:
            parts.append(f'<text class="tl-axis" x="{x + bar / 2:.1f}" y="{height - bottom + 16}"'
                         f' text-anchor="middle">{escape(day[5:])}</text>')  # fmt: skip
    for p, profile in enumerate(profiles):
        x = left + p * 150
        parts.append(f'<rect x="{x}" y="{height + 8}" width="12" height="12" '
                     f'fill="{PALETTE[p % len(PALETTE)]}"/><text class="tl-axis" x="{x + 18}" '
                     f'y="{height + 19}">{escape(profile)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def wav_peaks(data: bytes, buckets: int = 480) -> list[float] | None:
    """Peak levels (0-1) of a 16-bit PCM or 8-bit mu-law WAV in `buckets` slices; None if the
    bytes are not a WAV this can read."""
    if data[:4] == b"fLaC":  # the bot's own recordings (bot/recording/)
        return flac_peaks(data, buckets)
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt, channels, samples = 12, None, 1, b""
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt " and len(body) >= 16:
            fmt, channels = struct.unpack("<HH", body[:4])
            bits = struct.unpack("<H", body[14:16])[0]
            fmt = (fmt, bits)
        elif chunk == b"data":
            samples = body
            break
        pos += 8 + size + (size & 1)
    if fmt == (1, 16):
        values = np.frombuffer(samples[: len(samples) // 2 * 2], dtype="<i2").astype(np.float32)
        values /= 32768.0
    elif fmt is not None and fmt[0] == 7:  # mu-law
        raw = np.frombuffer(samples, dtype=np.uint8).astype(np.int16) ^ 0xFF
        sign, exponent, mantissa = raw & 0x80, (raw >> 4) & 7, raw & 0x0F
        magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
        values = np.where(sign, -(magnitude - 0x84), magnitude - 0x84).astype(np.float32) / 32768
    else:
        return None
    if channels > 1:
        values = np.abs(values[: len(values) // channels * channels].reshape(-1, channels)).max(1)
    if not len(values):
        return []
    slices = np.array_split(np.abs(values), min(buckets, len(values)))
    return [round(float(s.max()), 3) if len(s) else 0.0 for s in slices]


def flac_peaks(data: bytes, buckets: int = 480) -> list[float] | None:
    """Peak levels (0-1) of a FLAC recording in `buckets` slices, decoded a block at a time (an
    hour is 29 M samples; never all in memory at once); None if it cannot be decoded."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            frames = f.frames
            if frames <= 0:
                return []
            per = max(frames // min(buckets, frames), 1)
            peaks = [
                round(float(np.abs(block).max()), 3) if len(block) else 0.0
                for block in f.blocks(blocksize=per, dtype="float32", always_2d=True)
            ]
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    return peaks[:buckets]


def waveform_svg(peaks: list[float]) -> str:
    """Peaks as a mirrored bar waveform."""
    width, mid = 960, 40
    step = (width - 70 - 20) / max(len(peaks), 1)
    bars = "".join(
        f'<rect x="{70 + i * step:.1f}" y="{mid - p * 36:.1f}" width="{max(step - 0.3, 0.6):.1f}"'
        f' height="{max(p * 72, 0.8):.1f}"/>'
        for i, p in enumerate(peaks)
    )
    return (
        f'<svg class="waveform" viewBox="0 0 {width} 80" role="img" '
        f'aria-label="Waveform of the recording" fill="#3d4a5c" '
        f'xmlns="http://www.w3.org/2000/svg">{bars}</svg>'
    )

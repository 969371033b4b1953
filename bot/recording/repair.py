"""A recording left unfinished by a crash, made whole: decoded as far as it goes, re-encoded."""

from __future__ import annotations

from pathlib import Path

import soundfile
import structlog

from bot.recording.mixer import RATE

log = structlog.get_logger("bot.recording")

BLOCK = 8192


def repair(src: Path, dst: Path) -> float:
    """Re-encode the FLAC at src, read until it ends or breaks off, into a complete FLAC at
    dst; returns its duration in seconds. (libsndfile finishes a FLAC's header only when the
    file is closed, so a crashed writer leaves one whose length is unknown and whose last
    frame may be cut: it is readable front to back, up to that frame.)"""
    frames = 0
    with (
        soundfile.SoundFile(src) as inp,
        soundfile.SoundFile(
            dst, "w", samplerate=RATE, channels=2, format="FLAC", subtype="PCM_16"
        ) as out,  # fmt: skip
    ):
        while True:
            try:
                block = inp.read(BLOCK, dtype="int16")
            except (RuntimeError, soundfile.LibsndfileError):
                break  # the cut-off end
            if not len(block):
                break
            out.write(block)
            frames += len(block)
    log.info("recording.repaired", seconds=round(frames / RATE, 3))
    return frames / RATE


def duration_s(path: Path) -> float | None:
    """A finished FLAC's length in seconds (None if its header does not say)."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    if info.frames <= 0 or info.frames >= 2**62:
        return None
    return round(info.frames / info.samplerate, 3)

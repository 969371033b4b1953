"""Console test helpers: sign in over HTTP, and a recordings store of WAV files in a folder."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import httpx
import numpy as np

from bot.console.recordings import RecordingInfo

TOKEN = "console-api-token-0123456789"


class FolderRecordings:
    """Recordings as <dir>/<call_sid>.wav (what the console's Protocol asks of a store)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def stat(self, call_sid: str) -> RecordingInfo | None:
        path = self.folder / f"{call_sid}.wav"
        return RecordingInfo(path.stat().st_size) if path.exists() else None

    async def read(self, call_sid: str, start: int, end: int) -> bytes:
        with (self.folder / f"{call_sid}.wav").open("rb") as f:
            f.seek(start)
            return f.read(end - start)


def write_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    """A stereo 16-bit WAV: a tone on the left, silence on the right."""
    t = np.arange(int(seconds * rate)) / rate
    left = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    frames = np.stack([left, np.zeros_like(left)], axis=1).tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    form = await client.get("/console/signin")
    return await client.post(
        "/console/signin", data={"csrf": csrf_of(form.text), "token": token, "next": ""}
    )

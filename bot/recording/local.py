"""Recordings in a directory (RECORDINGS_DIR): `<CallSid>.flac`, `.flac.part` while recording."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bot.recording.recorder import RecordingInfo
from bot.recording.repair import duration_s, repair
from bot.recording.store import CHUNK, STALE_S, checked_sid


class DirSink:
    """The encoder writes `<sid>.flac.part` in place; the finished file is renamed."""

    def __init__(self, store: DirStore, call_sid: str) -> None:
        self.store = store
        self.call_sid = call_sid
        self.path = store.part(call_sid)
        store.live.add(call_sid)

    def flushed(self) -> None:
        """Nothing to do: what libsndfile wrote is in the file (a crash of the process keeps it)."""

    def finished(self, info: RecordingInfo) -> None:
        os.replace(self.path, self.store.final(self.call_sid))
        self.store.live.discard(self.call_sid)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.store.live.discard(self.call_sid)


class DirStore:
    """A directory of FLAC files, one per call."""

    kind = "dir"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.live: set[str] = set()  # calls this process is recording now

    def final(self, call_sid: str) -> Path:
        return self.root / f"{checked_sid(call_sid)}.flac"

    def part(self, call_sid: str) -> Path:
        return self.root / f"{checked_sid(call_sid)}.flac.part"

    def sink(self, call_sid: str) -> DirSink:
        return DirSink(self, call_sid)

    def _stat(self, call_sid: str) -> RecordingInfo | None:
        final, part = self.final(call_sid), self.part(call_sid)
        if not final.exists() and part.exists():
            if call_sid in self.live or time.time() - part.stat().st_mtime < STALE_S:
                return RecordingInfo(part.stat().st_size, None, complete=False)
            repair(part, final)  # a crash left it: made whole once
            part.unlink(missing_ok=True)
        try:
            size = final.stat().st_size
        except FileNotFoundError:
            return None
        return RecordingInfo(size, duration_s(final))

    async def stat(self, call_sid: str) -> RecordingInfo | None:
        return await asyncio.to_thread(self._stat, call_sid)

    async def read(self, call_sid: str, start: int, end: int) -> AsyncIterator[bytes]:
        path = self.final(call_sid)
        if not path.exists():
            path = self.part(call_sid)  # still being recorded: what is on disk so far
        f = await asyncio.to_thread(open, path, "rb")
        try:
            await asyncio.to_thread(f.seek, start)
            left = end - start + 1
            while left > 0:
                data = await asyncio.to_thread(f.read, min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data
        finally:
            await asyncio.to_thread(f.close)

    def _delete(self, call_sid: str) -> bool:
        found = False
        for path in (self.final(call_sid), self.part(call_sid)):
            try:
                path.unlink()
                found = True
            except FileNotFoundError:
                pass
        return found

    async def delete(self, call_sid: str) -> bool:
        return await asyncio.to_thread(self._delete, call_sid)

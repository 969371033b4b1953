"""The fake Twilio caller's playout: the app's audio queued on a real-time clock, marks
echoed when it passes them, `clear` cutting what is unplayed, and what the caller heard."""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed

from .protocol import MULAW_BYTES_PER_S, Clear, Gap, MarkEcho, PlayedChunk


@dataclass
class Chunk:
    start: float
    planned_end: float
    data: bytes
    cut: float | None = None  # set by a clear: playback stopped at this instant

    def played_bytes(self, now: float) -> int:
        end = self.planned_end if self.cut is None else self.cut
        if now >= end:
            if self.cut is None:
                return len(self.data)
            now = end
        if now <= self.start:
            return 0
        return min(len(self.data), math.floor((now - self.start) * MULAW_BYTES_PER_S + 1e-6))


class Playout:
    """Mixed into FakeTwilioCall (call.py), which holds the state."""

    # ---- playout clock ---------------------------------------------------------------------

    def _queue_audio(self, now: float, data: bytes) -> None:
        self._received_audio += data
        self.media_log.append((now, len(data)))
        start = max(now, self._play_end)
        self._play_end = start + len(data) / MULAW_BYTES_PER_S
        self._chunks.append(Chunk(start, self._play_end, data))
        self.max_buffered_ms = max(self.max_buffered_ms, self.buffered_ms(now))

    def _queue_mark(self, now: float, name: str) -> None:
        self._pending_marks.append((name, max(now, self._play_end)))
        self._marks_changed.set()

    async def _clear(self, now: float) -> None:
        self.clears.append(Clear(now, self.played_ms(now)))
        for chunk in reversed(self._chunks):
            if chunk.cut is not None or chunk.planned_end <= now:
                break
            chunk.cut = max(chunk.start, now)
        self._play_end = min(self._play_end, now)
        pending = list(self._pending_marks)
        self._pending_marks.clear()
        self._marks_changed.set()
        for name, due in pending:
            await self._echo_mark(name, by_clear=due > now)

    async def _echo_mark(self, name: str, by_clear: bool) -> None:
        try:
            await self._send_json(
                {
                    "event": "mark",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "mark": {"name": name},
                }
            )
        except ConnectionClosed:
            return
        self.marks_echoed.append(MarkEcho(name, self._loop.time(), by_clear))

    async def _mark_worker(self) -> None:
        """Echo each pending mark, in order, when the playout clock passes it."""
        while not self._closed.is_set():
            if not self._pending_marks:
                self._marks_changed.clear()
                await self._marks_changed.wait()
                continue
            name, due = self._pending_marks[0]
            delay = due - self._loop.time()
            if delay > 0:
                self._marks_changed.clear()
                try:
                    async with asyncio.timeout(delay):
                        await self._marks_changed.wait()
                except TimeoutError:
                    pass
                continue
            self._pending_marks.popleft()
            await self._echo_mark(name, by_clear=False)

    # ---- observations ----------------------------------------------------------------------

    @property
    def received_audio(self) -> bytes:
        """Every outbound media payload received, decoded and concatenated."""
        return bytes(self._received_audio)

    def played_audio(self, at: float | None = None) -> bytes:
        """μ-law bytes the caller has heard by now (or by loop time `at`)."""
        now = self._loop.time() if at is None else at
        return b"".join(c.data[: c.played_bytes(now)] for c in self._chunks)

    def played_ms(self, at: float | None = None) -> float:
        now = self._loop.time() if at is None else at
        return sum(c.played_bytes(now) for c in self._chunks) * 1000 / MULAW_BYTES_PER_S

    def buffered_ms(self, at: float | None = None) -> float:
        """Audio queued but not yet played."""
        now = self._loop.time() if at is None else at
        return max(0.0, self._play_end - now) * 1000

    @property
    def playback_timeline(self) -> list[PlayedChunk]:
        """Each chunk as played so far: (start, end, n_bytes); unplayed chunks are left out."""
        now = self._loop.time()
        timeline = []
        for c in self._chunks:
            n = c.played_bytes(now)
            if n:
                timeline.append(PlayedChunk(c.start, c.start + n / MULAW_BYTES_PER_S, n))
        return timeline

    def gaps(
        self, min_ms: float = 1.0, *, max_ms: float | None = None, across_clear: bool = False
    ) -> list[Gap]:
        """Silences between consecutive played chunks (starvation), min_ms <= gap <= max_ms.

        Gaps that span a `clear` are expected (barge-in) and left out unless across_clear.
        Gaps between the bot's turns count too: bound them with max_ms or look at a window.
        """
        timeline = self.playback_timeline
        found = []
        for prev, nxt in itertools.pairwise(timeline):
            ms = (nxt.start - prev.end) * 1000
            if ms < min_ms or (max_ms is not None and ms > max_ms):
                continue
            spans_clear = any(prev.end - 1e-6 <= c.at <= nxt.start for c in self.clears)
            if spans_clear and not across_clear:
                continue
            found.append(Gap(prev.end, nxt.start, ms))
        return found

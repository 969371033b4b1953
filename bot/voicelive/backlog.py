"""Caller audio no Voice Live session has taken yet, held in order during a switch (sans-I/O)."""

from __future__ import annotations

from collections import deque

BACKLOG_S = 30.0  # caller audio kept while no session takes it; older audio is dropped


class Backlog:
    """Caller audio waiting for the next session, oldest first; beyond BACKLOG_S the oldest goes."""

    def __init__(self, bytes_per_ms: float) -> None:
        self._chunks: deque[bytes] = deque()
        self._bytes = 0
        self._bytes_per_ms = bytes_per_ms
        self.max_bytes = int(BACKLOG_S * 1000 * bytes_per_ms)
        self._dropped_bytes = 0

    def __bool__(self) -> bool:
        return bool(self._chunks)

    @property
    def ms(self) -> float:
        """How much audio waits, in ms of the caller's audio."""
        return self._bytes / self._bytes_per_ms

    def append(self, audio: bytes) -> None:
        """Keep audio after what already waits (call `trim` afterwards)."""
        self._chunks.append(audio)
        self._bytes += len(audio)

    def push_front(self, chunks: list[bytes]) -> None:
        """Put chunks back ahead of what waits, in their order (not trimmed)."""
        for chunk in reversed(chunks):
            self._chunks.appendleft(chunk)
            self._bytes += len(chunk)

    def trim(self) -> bool:
        """Drop the oldest audio beyond BACKLOG_S; True if this is the first drop since the
        last `take_dropped_ms`."""
        first = False
        while self._bytes > self.max_bytes:
            old = self._chunks.popleft()
            self._bytes -= len(old)
            first = first or not self._dropped_bytes
            self._dropped_bytes += len(old)
        return first

    def take(self, step: int) -> bytes:
        """The oldest audio, whole chunks until at least `step` bytes (or all there is)."""
        chunk = bytearray()
        while self._chunks and len(chunk) < step:
            part = self._chunks.popleft()
            self._bytes -= len(part)
            chunk += part
        return bytes(chunk)

    def take_dropped_ms(self) -> float:
        """The audio dropped since the last call, in ms; counting starts afresh."""
        dropped = self._dropped_bytes / self._bytes_per_ms
        self._dropped_bytes = 0
        return dropped

"""Outbound audio waiting for Twilio, released in whole 160-byte μ-law frames (pure, no I/O)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FRAME = 160
SILENCE = b"\xff"


@dataclass(slots=True)
class _Segment:
    item_id: str
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False


class FrameQueue:
    """μ-law audio per model item; a partial frame waits for more audio or is padded at the end."""

    def __init__(self, max_bytes: int = 8000 * 300) -> None:
        self.max_bytes = max_bytes
        self._segments: deque[_Segment] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, item_id: str, mulaw: bytes) -> bool:
        """Queue audio for item_id. False (nothing queued) when the queue is full."""
        if self._size + len(mulaw) > self.max_bytes:
            return False
        if not self._segments or self._segments[-1].item_id != item_id:
            self.end_item()
            self._segments.append(_Segment(item_id))
        self._segments[-1].data += mulaw
        self._size += len(mulaw)
        return True

    def end_item(self, item_id: str | None = None) -> None:
        """The item's audio is complete: pad its tail to a whole frame with μ-law silence."""
        for seg in self._segments:
            if seg.closed or (item_id is not None and seg.item_id != item_id):
                continue
            tail = len(seg.data) % FRAME
            if tail:
                seg.data += SILENCE * (FRAME - tail)
                self._size += FRAME - tail
            seg.closed = True

    def take(self, max_frames: int) -> tuple[str, bytes] | None:
        """Up to max_frames whole frames of the oldest item, or None if none is ready."""
        while self._segments:
            seg = self._segments[0]
            n = min(len(seg.data) // FRAME, max_frames) * FRAME
            if n:
                out = bytes(seg.data[:n])
                del seg.data[:n]
                self._size -= n
                return seg.item_id, out
            if seg.closed or len(self._segments) > 1:
                self._size -= len(seg.data)
                self._segments.popleft()
                continue
            return None
        return None

    def clear(self) -> None:
        """Drop everything (barge-in)."""
        self._segments.clear()
        self._size = 0

"""What the caller has actually heard, worked out from Twilio mark echoes (pure, no I/O)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MULAW_BYTES_PER_MS = 8


@dataclass(slots=True)
class _Pending:
    name: str
    item_id: str
    chunk_ms: float
    item_end_ms: float  # position in the item's audio at the end of this chunk
    total_end_ms: float  # audio sent since the last clear, at the end of this chunk
    sent_at: float


class PlaybackTracker:
    """Tracks audio sent to Twilio, each chunk followed by a mark, and the marks echoed back.

    A mark echo means everything sent before it has played, except the echoes that a
    `clear` provokes: those look identical, so marks sent before a clear are ignored.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._pending: deque[_Pending] = deque()
        self._voided: set[str] = set()
        self._sent_ms = 0.0
        self._confirmed_ms = 0.0
        self._confirmed_at: float | None = None
        self._item_sent: dict[str, float] = {}
        self._item_heard: dict[str, float] = {}

    def sent(self, item_id: str, n_bytes: int, now: float) -> str:
        """Record a chunk of μ-law audio sent for item_id; returns the mark to send after it."""
        self._seq += 1
        chunk_ms = n_bytes / MULAW_BYTES_PER_MS
        self._sent_ms += chunk_ms
        item_end = self._item_sent.get(item_id, 0.0) + chunk_ms
        self._item_sent[item_id] = item_end
        name = f"m{self._seq}"
        self._pending.append(_Pending(name, item_id, chunk_ms, item_end, self._sent_ms, now))
        return name

    def echoed(self, name: str, now: float) -> bool:
        """A mark came back. True when it confirms playback (not an echo caused by a clear)."""
        if name in self._voided:
            self._voided.discard(name)
            return False
        if not any(p.name == name for p in self._pending):
            return False
        while self._pending:
            p = self._pending.popleft()
            self._confirmed_ms = p.total_end_ms
            self._item_heard[p.item_id] = p.item_end_ms
            if p.name == name:
                break
        self._confirmed_at = now
        return True

    def cleared(self) -> None:
        """We sent `clear`: Twilio dropped what it held; the marks it echoes now mean nothing."""
        self._voided.update(p.name for p in self._pending)
        self._pending.clear()
        self._sent_ms = self._confirmed_ms = 0.0
        self._confirmed_at = None

    @property
    def unconfirmed_ms(self) -> float:
        """Audio sent that no mark has confirmed as played yet (what Twilio may still hold)."""
        return self._sent_ms - self._confirmed_ms

    @property
    def idle(self) -> bool:
        """Everything sent has been confirmed as played."""
        return not self._pending

    def sent_ms(self, item_id: str) -> float:
        """Audio of this item sent to Twilio so far."""
        return self._item_sent.get(item_id, 0.0)

    def heard_ms(self, item_id: str, now: float) -> float:
        """How much of the item the caller has heard: the last confirmed mark, plus the time
        the next chunk has been playing (never more than that chunk holds)."""
        heard = self._item_heard.get(item_id, 0.0)
        if self._pending and self._pending[0].item_id == item_id:
            p = self._pending[0]
            started = max(p.sent_at, self._confirmed_at or p.sent_at)
            playing = min(max(now - started, 0.0) * 1000.0, p.chunk_ms)
            heard = max(heard, p.item_end_ms - p.chunk_ms + playing)
        return heard

"""The bot's audio on its way to the caller: queued frames, marks, pacing, and what was heard."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FRAME = 160  # bytes of μ-law: 20 ms at 8 kHz
FRAME_MS = 20
SILENCE = b"\xff"
MULAW_BYTES_PER_MS = 8
MAX_BYTES = 8000 * 300  # five minutes of audio


@dataclass(slots=True)
class _Segment:
    item_id: str
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False


@dataclass(slots=True)
class _Pending:
    name: str
    item_id: str
    chunk_ms: float
    item_end_ms: float  # position in the item's audio at the end of this chunk
    total_end_ms: float  # audio sent since the last clear, at the end of this chunk
    sent_at: float


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole frames of one item to send now, and the mark to send right after them."""

    item_id: str
    audio: bytes
    mark: str
    first: bool  # the first audio of this item to go out


class Playout:
    """μ-law audio per model item, released in whole 160-byte frames, each message followed by
    a mark; the marks Twilio echoes say what the caller has heard. Pure: `now` is passed in.

    A mark echo means everything sent before it has played, except the echoes that a `clear`
    provokes: those look identical, so marks sent before a clear are ignored. A partial frame
    waits for more audio, or is padded with silence when its item ends.
    """

    def __init__(self, ahead_ms: float = 300.0, max_bytes: int = MAX_BYTES) -> None:
        self.ahead_ms = ahead_ms  # how far sending may run ahead of what marks confirm
        self.max_bytes = max_bytes
        self.current_item: str | None = None  # the item whose audio came in last
        self._segments: deque[_Segment] = deque()
        self._size = 0
        self._seq = 0
        self._pending: deque[_Pending] = deque()
        self._voided: set[str] = set()
        self._sent_ms = 0.0
        self._confirmed_ms = 0.0
        self._confirmed_at: float | None = None
        self._item_sent: dict[str, float] = {}
        self._item_heard: dict[str, float] = {}

    # ---- the queue ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Bytes queued, not sent yet."""
        return self._size

    def push(self, item_id: str, mulaw: bytes) -> bool:
        """Queue audio for item_id. False (nothing queued) when the queue is full."""
        self.current_item = item_id
        if self._size + len(mulaw) > self.max_bytes:
            return False
        if not self._segments or self._segments[-1].item_id != item_id:
            self.end_item()
            self._segments.append(_Segment(item_id))
        self._segments[-1].data += mulaw
        self._size += len(mulaw)
        return True

    def end_item(self, item_id: str | None = None) -> None:
        """The item's audio is complete (None: every item's): pad its tail to a whole frame."""
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

    # ---- pacing -------------------------------------------------------------------------------

    def room(self) -> int:
        """How many 20 ms frames may go now: sending keeps at most `ahead_ms` unconfirmed."""
        return max(int((self.ahead_ms - self.unconfirmed_ms) // FRAME_MS), 0)

    def next_chunk(self, now: float, max_frames: int) -> Chunk | None:
        """The next message to send (within the room), registered as sent; None if none."""
        frames = min(self.room(), max_frames)
        if frames <= 0:
            return None
        taken = self.take(frames)
        if taken is None:
            return None
        item_id, audio = taken
        first = item_id not in self._item_sent
        return Chunk(item_id, audio, self.sent(item_id, len(audio), now), first)

    # ---- marks --------------------------------------------------------------------------------

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

    def clear(self, now: float) -> float:
        """Drop everything queued and everything Twilio holds (the caller sends `clear`);
        returns how many ms of the current item the caller heard."""
        heard = self.heard_ms(self.current_item, now) if self.current_item else 0.0
        self._segments.clear()
        self._size = 0
        self._voided.update(p.name for p in self._pending)
        self._pending.clear()
        self._sent_ms = self._confirmed_ms = 0.0
        self._confirmed_at = None
        return heard

    # ---- what was played ----------------------------------------------------------------------

    @property
    def unconfirmed_ms(self) -> float:
        """Audio sent that no mark has confirmed as played yet (what Twilio may still hold)."""
        return self._sent_ms - self._confirmed_ms

    @property
    def idle(self) -> bool:
        """Everything sent has been confirmed as played."""
        return not self._pending

    @property
    def playing(self) -> bool:
        """Audio is queued here or not yet confirmed as played."""
        return self._size > 0 or bool(self._pending)

    @property
    def pending_s(self) -> float:
        """Seconds of audio still to play: queued here plus unconfirmed at Twilio."""
        return (self._size / MULAW_BYTES_PER_MS + self.unconfirmed_ms) / 1000

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

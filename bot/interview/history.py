"""The conversation so far, as text, to replay into a fresh Voice Live session."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_ENTRIES = 400  # a 60-minute interview has ~150 turns; notes add a few dozen
REPLAY_CHARS = 40_000  # ~10k text tokens: the newest turns that fit are replayed
CUT_OFF = " [cut off: the candidate interrupted here]"
OMITTED = "(The start of this interview is omitted for length; it continues below.)"


@dataclass(slots=True)
class Entry:
    """One turn (user or assistant) or one note (system), in conversation order."""

    role: str  # "user", "assistant" or "system"
    text: str
    item_id: str | None = None
    pending: bool = False  # a user turn whose transcript has not arrived yet
    heard: float = 1.0  # the share of an assistant turn the caller heard before cutting in
    at: float = field(default_factory=time.monotonic)

    def words(self) -> str:
        """The text to replay: an assistant turn cut off by the caller ends where they cut in."""
        if self.role != "assistant" or self.heard >= 1.0:
            return self.text
        words = self.text.split()
        kept = " ".join(words[: max(0, round(len(words) * self.heard))])
        return (kept + CUT_OFF).strip()


class History:
    """User and assistant turns and notes (e.g. assessments), bounded, in the order they happened.

    A user turn takes its place when the caller starts speaking (its transcript may arrive
    after the bot's answer); an assistant turn holds only what the caller heard of it.
    """

    def __init__(
        self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock  # the call core passes its own (fake in tests) clock
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._by_item: dict[str, Entry] = {}
        self._cuts: dict[str, float] = {}  # barge-ins seen before their turn's words arrived
        self.dropped = 0  # entries pushed out by the bound

    def __len__(self) -> int:
        return sum(1 for e in self._entries if not e.pending)

    def _append(self, entry: Entry) -> None:
        if len(self._entries) == self._entries.maxlen:
            old = self._entries[0]
            self.dropped += 1
            if old.item_id is not None:
                self._by_item.pop(old.item_id, None)
        self._entries.append(entry)
        if entry.item_id is not None:
            self._by_item[entry.item_id] = entry

    def user_started(self, item_id: str) -> None:
        """The caller began a turn (its words come later, from the transcript)."""
        if item_id and item_id not in self._by_item:
            self._append(Entry("user", "", item_id, pending=True, at=self._clock()))

    def user(self, item_id: str, text: str) -> None:
        """The caller's words for a turn (transcription finished)."""
        text = text.strip()
        entry = self._by_item.get(item_id) if item_id else None
        if entry is None:
            self._append(Entry("user", text, item_id or None, pending=not text, at=self._clock()))
            return
        entry.text, entry.pending = text, not text

    def assistant(self, item_id: str, text: str) -> None:
        """The bot's words for one spoken item (all of them; a barge-in may have cut them)."""
        text = text.strip()
        if text and item_id not in self._by_item:
            self._append(Entry("assistant", text, item_id, heard=self._cuts.pop(item_id, 1.0)))

    def cut_off(self, item_id: str, heard: float) -> None:
        """The caller cut in after hearing this share (0..1) of an assistant item."""
        heard = min(max(heard, 0.0), 1.0)
        entry = self._by_item.get(item_id)
        if entry is not None:
            entry.heard = heard
        else:
            self._cuts[item_id] = heard
            while len(self._cuts) > 20:
                self._cuts.pop(next(iter(self._cuts)))

    def note(self, text: str) -> None:
        """Something the model should remember after a reconnect (e.g. an assessment it made)."""
        if text.strip():
            self._append(Entry("system", text.strip()))

    def awaiting_words(self, within_s: float = 3.0) -> bool:
        """A recent user turn still waits for its transcript (a failed one stops counting)."""
        now = self._clock()
        recent = list(self._entries)[-4:]
        return any(e.pending and now - e.at < within_s for e in recent)

    def entries(self) -> list[Entry]:
        """Every finished entry, oldest first."""
        return [e for e in self._entries if not e.pending]

    def replay(self, max_chars: int = REPLAY_CHARS) -> list[tuple[str, str]]:
        """What to send a new session, as (role, text): the newest entries within max_chars.

        Notes older than the window are kept (they are short and matter, e.g. scores); the
        turns before it are replaced by one system line saying the start is omitted.
        """
        done = self.entries()
        kept: list[Entry] = []
        used = 0
        cut = 0
        for index in range(len(done) - 1, -1, -1):
            entry = done[index]
            if used + len(entry.words()) > max_chars:
                cut = index + 1
                break
            kept.append(entry)
            used += len(entry.words())
        kept.reverse()
        if cut or self.dropped:
            kept = [Entry("system", OMITTED), *(e for e in done[:cut] if e.role == "system"), *kept]
        return [(e.role, e.words()) for e in kept]

"""What a Voice Live session owes us (sans-I/O), so a silent, stalled session is found fast."""

from __future__ import annotations

import json
from collections import deque

import numpy as np

from bot.audio import ulaw_to_pcm16
from bot.voicelive import events as vl

OWED_S = 1.25  # a debt unpaid this long (and no server event meanwhile) is probed
PROBE_TIMEOUT_S = 0.75  # no pong within this after the ping: the session is gone
SPEECH_RMS = 0.01 * 32768  # -40 dBFS: caller audio louder than this may be speech the VAD owes


def loud(audio: bytes, *, ulaw: bool) -> bool:
    """Whether caller audio (μ-law, else PCM16) is loud enough to be speech (RMS > -40 dBFS)."""
    if not audio:
        return False
    if ulaw:
        samples = ulaw_to_pcm16(audio)
    else:
        samples = np.frombuffer(audio[: len(audio) // 2 * 2], dtype=np.int16)
    if samples.size == 0:
        return False
    x = samples.astype(np.float32)
    return float(np.dot(x, x)) > SPEECH_RMS * SPEECH_RMS * samples.size


class Debts:
    """A session's debts and its last sign of life, on the caller's clock (`now` passed in).

    Owed: an answer to caller speech (loud audio sent since the last server event: at least a
    `speech_started`, unless the VAD is already in that speech, when pings tell), a
    `response.created` for our `response.create`, and events of a response in progress. Each
    debt's clock starts at the later of when it was incurred and the last sign of life (a
    server event, or a pong to a probe).
    """

    def __init__(self, now: float, *, ulaw: bool) -> None:
        self._ulaw = ulaw
        self.heard_at = now  # the last server event
        self.alive_at = now  # the last server event or answered probe
        self._speech_at: float | None = None  # first loud audio sent since the last event
        self._asked_at: float | None = None  # response.create sent, no response.created yet
        self._responding = False  # response.created, no response.done yet

    def sent_audio(self, audio: bytes, now: float) -> None:
        if self._speech_at is None and loud(audio, ulaw=self._ulaw):
            self._speech_at = now

    def sent_event(self, text: str, now: float) -> None:
        """A client event went out: a response.create is owed its response.created."""
        if '"response.create"' not in text or self._asked_at is not None:
            return
        if json.loads(text).get("type") == "response.create":
            self._asked_at = now

    def received(self, event: object, now: float) -> None:
        """Any server event is a sign of life; some pay a debt."""
        self.heard_at = self.alive_at = now
        self._speech_at = None
        if isinstance(event, vl.ResponseCreated):
            self._asked_at = None
            self._responding = True
        elif isinstance(event, vl.ResponseDone):
            self._asked_at = None  # a response.create cancelled at once may get only this
            self._responding = False
        elif isinstance(event, vl.ServerError):
            self._asked_at = None  # e.g. a response.create refused while one is active

    def answered(self, now: float) -> None:
        """A probe got its pong: the connection is alive; the debts' clocks start again."""
        self.alive_at = now

    def overdue(self, now: float) -> tuple[str, float] | None:
        """(what is owed, for how many seconds) if some debt is unpaid for OWED_S or more."""
        owed: list[tuple[float, str]] = []
        if self._speech_at is not None:
            owed.append((self._speech_at, "speech_started for caller speech"))
        if self._asked_at is not None:
            owed.append((self._asked_at, "response.created"))
        if self._responding:
            owed.append((self.heard_at, "events of the response in progress"))
        if not owed:
            return None
        since, what = min(owed)
        if now - max(since, self.alive_at) < OWED_S:
            return None
        return what, now - since


class Unconfirmed:
    """Caller audio sent to the session since its last sign of life (any server event): what
    a stalled session may have swallowed, resent to the next one. Bounded (oldest dropped)."""

    def __init__(self, max_bytes: int) -> None:
        self._chunks: deque[bytes] = deque()
        self.bytes = 0
        self._max = max_bytes

    def add(self, audio: bytes) -> None:
        self._chunks.append(audio)
        self.bytes += len(audio)
        while self.bytes > self._max:
            self.bytes -= len(self._chunks.popleft())

    def clear(self) -> None:
        self._chunks.clear()
        self.bytes = 0

    def take(self) -> list[bytes]:
        """All of it, oldest first; empties it."""
        chunks = list(self._chunks)
        self.clear()
        return chunks

"""What the session keeper tells the call when sessions change: a new one took over, late words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resumed:
    """A new session took over: planned (a recycle) or not (a drop); what caused it, how long."""

    planned: bool
    cause: str
    took_ms: float
    attempts: int
    backlog_ms: float
    dropped_ms: float
    replayed: tuple[str, ...] = ()  # the events the new session got before the caller's audio


@dataclass(frozen=True, slots=True)
class Handover:
    """The caller's words, transcribed by a session after the call had switched away from it."""

    item_id: str
    text: str
